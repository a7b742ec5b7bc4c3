/** Submits a job, idempotently per (tenant, idempotency key). */
import { and, eq, sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { JOB_EVENTS_CHANNEL, JOBS_CHANNEL } from "./notify.ts";
import { jsonParam, mapRow } from "./_rows.ts";
import { DEFAULT_MAX_ATTEMPTS, type JobRow, jobs } from "./schema.ts";

/** What {@link createJob} needs. */
export interface NewJob {
  tenant: string;
  spec: Record<string, unknown>;
  idempotencyKey?: string;
  /** Default {@link DEFAULT_MAX_ATTEMPTS}. */
  maxAttempts?: number;
  /** Where the job's events are posted, and the secret that signs them. */
  webhook?: { url: string; events: string[]; secret: string };
}

/**
 * Inserts a queued job with its first `status` event and wakes workers, in
 * one statement. A second call with the same tenant and key returns the
 * first job with `created: false`; concurrent calls are safe because the
 * unique index makes the loser's INSERT wait for the winner and then do
 * nothing.
 */
export async function createJob(
  db: Queryable,
  job: NewJob,
): Promise<{ job: JobRow; created: boolean }> {
  const [inserted] = await db.execute<Record<string, unknown>>(sql`
    with ins as (
      insert into jobs (tenant, spec, idempotency_key, max_attempts,
        last_event_seq, webhook, webhook_secret)
      values (${job.tenant}, ${jsonParam(job.spec)}::jsonb,
        ${job.idempotencyKey ?? null}::text,
        ${job.maxAttempts ?? DEFAULT_MAX_ATTEMPTS}::int, 1,
        ${
    job.webhook
      ? jsonParam({ url: job.webhook.url, events: job.webhook.events })
      : null
  }::jsonb, ${job.webhook?.secret ?? null}::text)
      on conflict (tenant, idempotency_key) do nothing
      returning *
    ), event as (
      insert into job_events (job_id, seq, type, data)
      select id, 1, 'status', '{"status": "queued"}'::jsonb from ins
    )
    select ins.*, pg_notify(${JOBS_CHANNEL}, ins.id::text),
      pg_notify(${JOB_EVENTS_CHANNEL}, ins.id::text)
    from ins`);
  if (inserted) return { job: mapRow(jobs, inserted), created: true };
  const [existing] = await db.select().from(jobs).where(and(
    eq(jobs.tenant, job.tenant),
    eq(jobs.idempotencyKey, job.idempotencyKey!),
  ));
  return { job: existing, created: false };
}
