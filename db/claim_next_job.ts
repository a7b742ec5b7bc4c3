/** The queue's claim: one atomic statement under FOR UPDATE SKIP LOCKED. */
import { sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { leaseEnd } from "./_lease.ts";
import { reapExpiredJobs } from "./reap_expired_jobs.ts";
import { JOB_EVENTS_CHANNEL } from "./notify.ts";
import { mapRow } from "./_rows.ts";
import { type JobRow, jobs } from "./schema.ts";

/** Options of {@link claimNextJob}. */
export interface ClaimOptions {
  /** Jobs of a tenant with this many live leases wait (0 or absent: no cap). */
  maxRunningPerTenant?: number;
}

/**
 * Claims the next job for `workerId` (conventionally host:pid): a queued
 * job, or a running one whose lease expired with attempts left. Sets status
 * `running`, `locked_by`, a lease of `leaseSeconds`, bumps `attempts` (the
 * new attempt is the lease's fencing token) and appends the `running` status
 * event, all in one statement. Jobs out of attempts are first settled by
 * {@link reapExpiredJobs}. Undefined when nothing is claimable.
 *
 * Fairness: the pick is the oldest job of the tenant with the fewest live
 * leases, ties going to the tenant served least recently (whose newest job
 * start is oldest, or who has none). Tenants thus take turns even with one
 * worker, and one tenant's flood delays another tenant's job by at most one
 * job slot instead of the whole flood.
 */
export async function claimNextJob(
  db: Queryable,
  workerId: string,
  leaseSeconds: number,
  opts: ClaimOptions = {},
): Promise<JobRow | undefined> {
  await reapExpiredJobs(db);
  const cap = opts.maxRunningPerTenant ?? 0;
  // The candidate CTE is locked FOR UPDATE, so its last_event_seq and
  // attempts are stable until commit: the event row can be computed from it
  // alongside the UPDATE. SKIP LOCKED lets concurrent claimers pass.
  const rows = await db.execute<Record<string, unknown>>(sql`
    with live as (
      select tenant, count(*)::int as n from jobs
      where status in ('running', 'cancelling') and lease_until >= now()
      group by tenant
    ), served as (
      select tenant, max(started_at) as last from jobs
      where started_at is not null
      group by tenant
    ), candidate as (
      select j.id, j.last_event_seq, j.attempts from jobs j
      left join live on live.tenant = j.tenant
      left join served on served.tenant = j.tenant
      where (j.status = 'queued' or (j.status = 'running'
          and j.lease_until < now() and j.attempts < j.max_attempts))
        and (${cap}::int = 0 or coalesce(live.n, 0) < ${cap}::int)
      order by coalesce(live.n, 0), served.last nulls first, j.created_at, j.id
      limit 1
      for update of j skip locked
    ), event as (
      insert into job_events (job_id, seq, type, data)
      select id, last_event_seq + 1, 'status', jsonb_build_object(
        'status', 'running', 'attempt', attempts + 1, 'worker', ${workerId}::text)
      from candidate
    )
    update jobs set
      status = 'running',
      locked_by = ${workerId},
      attempts = jobs.attempts + 1,
      lease_until = ${leaseEnd(leaseSeconds)},
      heartbeat_at = now(),
      started_at = coalesce(jobs.started_at, now()),
      last_event_seq = jobs.last_event_seq + 1
    from candidate where jobs.id = candidate.id
    returning jobs.*, pg_notify(${JOB_EVENTS_CHANNEL}, jobs.id::text)`);
  return rows[0] ? mapRow(jobs, rows[0]) : undefined;
}
