/** Submits a job, idempotently per (tenant, idempotency key). */
import { and, eq } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { appendJobEvent } from "./append_job_event.ts";
import { JOBS_CHANNEL, notify } from "./notify.ts";
import { type JobRow, jobs } from "./schema.ts";

/** What {@link createJob} needs. */
export interface NewJob {
  tenant: string;
  spec: Record<string, unknown>;
  idempotencyKey?: string;
  /** Default 3. */
  maxAttempts?: number;
}

/**
 * Inserts a queued job with its first `status` event and wakes workers.
 * A second call with the same tenant and key returns the first job with
 * `created: false`; concurrent calls are safe because the unique index makes
 * the loser's INSERT wait for the winner and then do nothing.
 */
export async function createJob(
  db: Queryable,
  job: NewJob,
): Promise<{ job: JobRow; created: boolean }> {
  return await db.transaction(async (tx) => {
    const [inserted] = await tx.insert(jobs)
      .values({
        tenant: job.tenant,
        spec: job.spec,
        idempotencyKey: job.idempotencyKey ?? null,
        maxAttempts: job.maxAttempts,
      })
      .onConflictDoNothing({ target: [jobs.tenant, jobs.idempotencyKey] })
      .returning();
    if (inserted) {
      const event = await appendJobEvent(tx, inserted.id, "status", {
        status: "queued",
      });
      await notify(tx, JOBS_CHANNEL, inserted.id);
      return {
        job: { ...inserted, lastEventSeq: event.seq },
        created: true,
      };
    }
    const [existing] = await tx.select().from(jobs).where(and(
      eq(jobs.tenant, job.tenant),
      eq(jobs.idempotencyKey, job.idempotencyKey!),
    ));
    return { job: existing, created: false };
  });
}
