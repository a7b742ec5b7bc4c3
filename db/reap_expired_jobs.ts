/** Settles leased jobs whose worker vanished and which may not be retried. */
import { sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { JOB_EVENTS_CHANNEL } from "./notify.ts";
import { mapRow } from "./_rows.ts";
import { type JobRow, jobs } from "./schema.ts";

/**
 * Expired `cancelling` jobs become `cancelled` (nobody is left to cancel);
 * expired `running` jobs that used all their attempts become `failed` with
 * code `max_attempts_exceeded`. Each gets its terminal `status` event in the
 * same statement. Rows locked by another reaper are skipped, so claimers
 * never queue here.
 */
export async function reapExpiredJobs(db: Queryable): Promise<JobRow[]> {
  const rows = await db.execute<Record<string, unknown>>(sql`
    with expired as (
      select id from jobs
      where lease_until < now() and (status = 'cancelling'
        or (status = 'running' and attempts >= max_attempts))
      for update skip locked
    ), settled as (
      update jobs set
        status = case when jobs.status = 'cancelling'
          then 'cancelled'::job_status else 'failed'::job_status end,
        error = case when jobs.status = 'cancelling' then null else
          jsonb_build_object('code', 'max_attempts_exceeded', 'message',
            'the lease expired on attempt ' || jobs.attempts || ' of ' ||
            jobs.max_attempts || '; the worker is presumed dead') end,
        finished_at = now(),
        lease_until = null,
        last_event_seq = jobs.last_event_seq + 1
      from expired where jobs.id = expired.id
      returning jobs.*
    ), event as (
      insert into job_events (job_id, seq, type, data)
      select id, last_event_seq, 'status',
        jsonb_build_object('status', status) || case when error is null
          then '{}'::jsonb else jsonb_build_object('error', error) end
      from settled
    )
    select settled.*, pg_notify(${JOB_EVENTS_CHANNEL}, settled.id::text)
    from settled`);
  return rows.map((r) => mapRow(jobs, r));
}
