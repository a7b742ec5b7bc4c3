/**
 * The fencing token of a claimed job, and the SQL fragments the queue and
 * every worker write share.
 */
import { type SQL, sql } from "drizzle-orm";
import { LEASED_STATUSES } from "./job_status.ts";

/**
 * Who holds a job: the worker id (host:pid) and the attempt number the claim
 * gave it. The pair is the fencing token: a worker that lost its lease (a
 * second claim bumps `attempts`, even by the same worker id) matches neither.
 */
export interface JobLease {
  jobId: string;
  workerId: string;
  attempt: number;
}

/** `now() + leaseSeconds`, bound as a parameter. */
export function leaseEnd(leaseSeconds: number): SQL {
  return sql`now() + make_interval(secs => ${leaseSeconds}::double precision)`;
}

const LEASED = sql.join(LEASED_STATUSES.map((s) => sql`${s}`), sql`, `);

/** True on the jobs row while `lease` still holds it (for a WHERE on `jobs`). */
export function heldBy(lease: JobLease): SQL {
  return sql`jobs.id = ${lease.jobId}::uuid
    and jobs.locked_by = ${lease.workerId}
    and jobs.attempts = ${lease.attempt}
    and jobs.status in (${LEASED})`;
}

/**
 * A CTE named `lease` with one row while `lease` holds the job. FOR SHARE
 * makes a concurrent claim or reap wait for the statement that uses it, and
 * re-checks the row after such a writer commits, so a write fenced by it
 * can never land after the job changed hands.
 */
export function leaseCte(lease: JobLease): SQL {
  return sql`lease as (select jobs.id from jobs where ${
    heldBy(lease)
  } for share)`;
}
