/**
 * Appends to a job's event log. Two writers exist: the unleased ones (job
 * creation, cancelling a queued job, the reaper), whose seq comes from
 * `jobs.last_event_seq`, and the worker holding the lease, which numbers
 * its own events so that a retried append is a no-op.
 */
import { sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { heldBy, type JobLease } from "./_lease.ts";
import { JOB_EVENTS_CHANNEL } from "./notify.ts";
import { jsonParam, mapRow } from "./_rows.ts";
import { type EventRow, jobEvents } from "./schema.ts";

/**
 * Appends `type`/`data` to the log of `jobId` with the next seq and NOTIFYs
 * `job_events`, in one statement: the bump of `jobs.last_event_seq` locks
 * the row (serialising appenders of one job), and the insert commits or
 * rolls back with it, so seqs never skip. Not for a leased job's worker:
 * see {@link appendLeasedEvent}.
 * @throws {Error} when the job does not exist.
 */
export async function appendJobEvent(
  db: Queryable,
  jobId: string,
  type: string,
  data: Record<string, unknown>,
): Promise<EventRow> {
  const rows = await db.execute<Record<string, unknown>>(sql`
    with bumped as (
      update jobs set last_event_seq = last_event_seq + 1
      where id = ${jobId}::uuid
      returning id, last_event_seq
    ), ins as (
      insert into job_events (job_id, seq, type, data)
      select id, last_event_seq, ${type}, ${jsonParam(data)}::jsonb from bumped
      returning *
    )
    select ins.*, pg_notify(${JOB_EVENTS_CHANNEL}, ins.job_id::text) from ins`);
  if (!rows[0]) throw new Error(`job ${jobId} not found`);
  return mapRow(jobEvents, rows[0]);
}

/** One event a leased worker appends, numbered by the worker. */
export interface LeasedEvent {
  seq: number;
  type: string;
  data: Record<string, unknown>;
}

/**
 * Appends the worker's event `seq` to a job it holds, fenced by `lease` in
 * the same statement. Idempotent: re-sending an event whose commit was
 * never acknowledged inserts nothing (the seq is taken), so a retry after an
 * ambiguous COMMIT cannot duplicate it. The worker is the only writer of the
 * log while it holds the lease, so its numbering is the log's.
 *
 * Returns false when the lease is gone (the worker must stop).
 * @throws {Error} when `seq` would leave a gap (a bug in the caller).
 */
export async function appendLeasedEvent(
  db: Queryable,
  lease: JobLease,
  event: LeasedEvent,
): Promise<boolean> {
  const rows = await db.execute<{ id: string }>(sql`
    with held as (
      update jobs set last_event_seq = greatest(last_event_seq, ${event.seq}::int)
      where ${heldBy(lease)} and last_event_seq >= ${event.seq}::int - 1
      returning jobs.id
    ), ins as (
      insert into job_events (job_id, seq, type, data)
      select id, ${event.seq}::int, ${event.type}, ${
    jsonParam(event.data)
  }::jsonb
      from held
      on conflict (job_id, seq) do nothing
      returning job_id
    )
    select held.id, (select count(*) from ins)::int as inserted,
      pg_notify(${JOB_EVENTS_CHANNEL}, held.id::text)
    from held`);
  if (rows[0]) return true;
  const [job] = await db.execute<{ held: boolean; last: number }>(sql`
    select ${heldBy(lease)} as held, last_event_seq as last
    from jobs where id = ${lease.jobId}::uuid`);
  if (job?.held) {
    throw new Error(
      `event seq ${event.seq} of job ${lease.jobId} would leave a gap: the log ends at ${job.last}`,
    );
  }
  return false;
}
