/** Cancellation as the API asks for it. */
import { sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { getJob } from "./get_job.ts";
import { isUuid } from "./_uuid.ts";
import { JOB_EVENTS_CHANNEL } from "./notify.ts";
import { mapRow } from "./_rows.ts";
import { type JobRow, jobs } from "./schema.ts";

/**
 * Requests cancellation of `tenant`'s job `id`; idempotent. A queued job is
 * cancelled at once, with its terminal `status` event. A running one becomes
 * `cancelling` with no event: its worker is the only writer of the log while
 * it holds the lease, and writes `cancelling` and `cancelled` itself when it
 * sees the request (within a heartbeat) and stops (within a step); if the
 * worker is gone, the reaper cancels it when the lease expires. Anything else
 * is returned unchanged. Undefined when the job is not the tenant's.
 */
export async function requestCancel(
  db: Queryable,
  tenant: string,
  id: string,
): Promise<JobRow | undefined> {
  if (!isUuid(id)) return undefined;
  // SET expressions read the row version the UPDATE finally locks, so a
  // claim racing with this request yields `cancelling`, never a lost cancel.
  const [row] = await db.execute<Record<string, unknown>>(sql`
    with changed as (
      update jobs set
        status = case when status = 'queued'
          then 'cancelled'::job_status else 'cancelling'::job_status end,
        cancel_requested_at = coalesce(cancel_requested_at, now()),
        finished_at = case when status = 'queued' then now() else finished_at end,
        last_event_seq = last_event_seq +
          case when status = 'queued' then 1 else 0 end
      where id = ${id}::uuid and tenant = ${tenant}
        and status in ('queued', 'running')
      returning jobs.*
    ), event as (
      insert into job_events (job_id, seq, type, data)
      select id, last_event_seq, 'status', '{"status": "cancelled"}'::jsonb
      from changed where status = 'cancelled'
    )
    select changed.*, pg_notify(${JOB_EVENTS_CHANNEL}, changed.id::text)
    from changed`);
  return row ? mapRow(jobs, row) : await getJob(db, tenant, id);
}
