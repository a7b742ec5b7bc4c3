/** Settles leased jobs whose worker vanished and which may not be retried. */
import { and, eq, gte, inArray, lt, or, sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { appendJobEvent } from "./append_job_event.ts";
import { type JobRow, jobs } from "./schema.ts";

/**
 * Expired `cancelling` jobs become `cancelled` (nobody is left to cancel);
 * expired `running` jobs that used all their attempts become `failed` with
 * code `max_attempts_exceeded`. Each gets its terminal `status` event.
 * Rows locked by another reaper are skipped, so claimers never queue here.
 */
export async function reapExpiredJobs(db: Queryable): Promise<JobRow[]> {
  return await db.transaction(async (tx) => {
    const expired = tx.select({ id: jobs.id }).from(jobs).where(and(
      lt(jobs.leaseUntil, sql`now()`),
      or(
        eq(jobs.status, "cancelling"),
        and(eq(jobs.status, "running"), gte(jobs.attempts, jobs.maxAttempts)),
      ),
    )).for("update", { skipLocked: true });
    const rows = await tx.update(jobs).set({
      status: sql`case when ${jobs.status} = 'cancelling'
        then 'cancelled'::job_status else 'failed'::job_status end`,
      error: sql`case when ${jobs.status} = 'cancelling' then null else
        jsonb_build_object('code', 'max_attempts_exceeded', 'message',
          'the lease expired on attempt ' || ${jobs.attempts} || ' of ' ||
          ${jobs.maxAttempts} || '; the worker is presumed dead') end`,
      finishedAt: sql`now()`,
      leaseUntil: null,
    }).where(inArray(jobs.id, expired)).returning();
    for (const row of rows) {
      await appendJobEvent(tx, row.id, "status", {
        status: row.status,
        ...(row.error ? { error: row.error } : {}),
      });
    }
    return rows;
  });
}
