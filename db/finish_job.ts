/**
 * How a worker lets go of a claimed job. Each is one statement fenced by the
 * lease (locked_by and attempt) that also appends the terminal events, so a
 * worker whose job was reclaimed cannot overwrite the new owner's outcome,
 * and the job_error event never lands without its status. Seqs continue from
 * `last_event_seq`, which the worker's own appends keep current.
 */
import { type SQL, sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { heldBy, type JobLease } from "./_lease.ts";
import { JOB_EVENTS_CHANNEL } from "./notify.ts";
import { jsonParam, mapRow } from "./_rows.ts";
import { type JobRow, jobs } from "./schema.ts";
import type { TerminalStatus } from "./job_status.ts";

/**
 * Runs the fenced UPDATE `set`, appending `events` (type and a jsonb SQL
 * expression over the updated row `done`) at the next seqs. When the lease
 * no longer matches and `confirm` is given, the row is read back: a job
 * already in that state under this lease means an earlier try committed
 * without the reply arriving, and counts as done (so retries are safe).
 */
async function finish(
  db: Queryable,
  lease: JobLease,
  set: SQL,
  events: { type: string; data: SQL }[],
  confirm?: TerminalStatus,
): Promise<JobRow | undefined> {
  const values = sql.join(
    events.map((e, i) => sql`(${i + 1}::int, ${e.type}::text, ${e.data})`),
    sql`, `,
  );
  const rows = await db.execute<Record<string, unknown>>(sql`
    with done as (
      update jobs set ${set}, last_event_seq = jobs.last_event_seq + ${events.length}::int
      where ${heldBy(lease)}
      returning jobs.*
    ), event as (
      insert into job_events (job_id, seq, type, data)
      select done.id, done.last_event_seq - ${events.length}::int + e.n, e.type, e.data
      from done cross join lateral (values ${values}) as e(n, type, data)
    )
    select done.*, pg_notify(${JOB_EVENTS_CHANNEL}, done.id::text) from done`);
  if (rows[0]) return mapRow(jobs, rows[0]);
  if (!confirm) return undefined;
  const [again] = await db.execute<Record<string, unknown>>(sql`
    select * from jobs where id = ${lease.jobId}::uuid
      and locked_by = ${lease.workerId} and attempts = ${lease.attempt}
      and status = ${confirm}`);
  return again ? mapRow(jobs, again) : undefined;
}

/** Marks the job `succeeded` with the engine's result; undefined if not held. */
export function completeJob(
  db: Queryable,
  lease: JobLease,
  result: Record<string, unknown>,
): Promise<JobRow | undefined> {
  const json = jsonParam(result);
  return finish(
    db,
    lease,
    sql`status = 'succeeded', result = ${json}::jsonb, finished_at = now(),
      lease_until = null`,
    [{
      type: "status",
      data:
        sql`jsonb_build_object('status', 'succeeded', 'result', ${json}::jsonb)`,
    }],
    "succeeded",
  );
}

/**
 * Marks the job `failed` with a coded error, appending the `job_error` event
 * and then the terminal `status` event; undefined if not held.
 */
export function failJob(
  db: Queryable,
  lease: JobLease,
  error: { code: string; message: string },
): Promise<JobRow | undefined> {
  const json = jsonParam(error);
  return finish(
    db,
    lease,
    sql`status = 'failed', error = ${json}::jsonb, finished_at = now(),
      lease_until = null`,
    [
      // Not "error": EventSource reserves that name for lost connections.
      { type: "job_error", data: sql`${json}::jsonb` },
      {
        type: "status",
        data:
          sql`jsonb_build_object('status', 'failed', 'error', ${json}::jsonb)`,
      },
    ],
    "failed",
  );
}

/** Marks the job `cancelled` after the worker stopped it; undefined if not held. */
export function markCancelled(
  db: Queryable,
  lease: JobLease,
): Promise<JobRow | undefined> {
  return finish(
    db,
    lease,
    sql`status = 'cancelled', finished_at = now(), lease_until = null`,
    [{ type: "status", data: sql`'{"status": "cancelled"}'::jsonb` }],
    "cancelled",
  );
}

/**
 * Hands a job back on a clean worker shutdown: it is queued again without
 * spending an attempt (a cancelling one is cancelled instead), and the next
 * claimer resumes from its latest checkpoint. Undefined if not held.
 */
export function releaseJob(
  db: Queryable,
  lease: JobLease,
): Promise<JobRow | undefined> {
  return finish(
    db,
    lease,
    sql`status = case when jobs.status = 'cancelling'
        then 'cancelled'::job_status else 'queued'::job_status end,
      attempts = greatest(jobs.attempts - 1, 0),
      finished_at = case when jobs.status = 'cancelling'
        then now() else null end,
      locked_by = null,
      lease_until = null`,
    [{
      type: "status",
      data: sql`jsonb_build_object('status', done.status,
        'reason', 'worker_shutdown')`,
    }],
  );
}
