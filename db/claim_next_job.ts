/** The queue's claim: one atomic statement under FOR UPDATE SKIP LOCKED. */
import { and, asc, eq, inArray, lt, or, sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { appendJobEvent } from "./append_job_event.ts";
import { leaseEnd } from "./_lease.ts";
import { reapExpiredJobs } from "./reap_expired_jobs.ts";
import { type JobRow, jobs } from "./schema.ts";

/**
 * Claims the oldest claimable job for `workerId` (conventionally host:pid):
 * a queued job, or a running one whose lease expired with attempts left.
 * Sets status `running`, `locked_by`, a lease of `leaseSeconds` and bumps
 * `attempts`, then appends a `status` event. Jobs out of attempts are first
 * failed by {@link reapExpiredJobs}. Undefined when nothing is claimable.
 */
export async function claimNextJob(
  db: Queryable,
  workerId: string,
  leaseSeconds: number,
): Promise<JobRow | undefined> {
  await reapExpiredJobs(db);
  return await db.transaction(async (tx) => {
    // A CTE with FOR UPDATE is never inlined, so the LIMIT 1 subquery runs
    // exactly once; SKIP LOCKED lets concurrent claimers pass each other.
    const candidate = tx.$with("candidate").as(
      tx.select({ id: jobs.id }).from(jobs).where(or(
        eq(jobs.status, "queued"),
        and(
          eq(jobs.status, "running"),
          lt(jobs.leaseUntil, sql`now()`),
          lt(jobs.attempts, jobs.maxAttempts),
        ),
      )).orderBy(asc(jobs.createdAt)).limit(1)
        .for("update", { skipLocked: true }),
    );
    const [job] = await tx.with(candidate).update(jobs).set({
      status: "running",
      lockedBy: workerId,
      attempts: sql`${jobs.attempts} + 1`,
      leaseUntil: leaseEnd(leaseSeconds),
      heartbeatAt: sql`now()`,
      startedAt: sql`coalesce(${jobs.startedAt}, now())`,
    }).where(inArray(jobs.id, tx.select({ id: candidate.id }).from(candidate)))
      .returning();
    if (!job) return undefined;
    const event = await appendJobEvent(tx, job.id, "status", {
      status: "running",
      attempt: job.attempts,
      worker: workerId,
    });
    return { ...job, lastEventSeq: event.seq };
  });
}
