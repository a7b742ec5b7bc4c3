/** Lease renewal, which doubles as the worker's cancellation check. */
import { and, eq, inArray, sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { LEASED_STATUSES } from "./job_status.ts";
import { leaseEnd } from "./_lease.ts";
import { jobs } from "./schema.ts";

/**
 * Extends the lease of job `id` if `workerId` still holds it. `ok` false
 * means the job was reclaimed or finished: the worker must stop and write
 * nothing more. `cancelRequested` means the API asked to cancel.
 */
export async function heartbeatJob(
  db: Queryable,
  id: string,
  workerId: string,
  leaseSeconds: number,
): Promise<{ ok: boolean; cancelRequested: boolean }> {
  const [row] = await db.update(jobs).set({
    leaseUntil: leaseEnd(leaseSeconds),
    heartbeatAt: sql`now()`,
  }).where(and(
    eq(jobs.id, id),
    eq(jobs.lockedBy, workerId),
    inArray(jobs.status, [...LEASED_STATUSES]),
  )).returning({ status: jobs.status });
  return {
    ok: row !== undefined,
    cancelRequested: row?.status === "cancelling",
  };
}

/** Records the latest progress snapshot of a held job; false if no longer held. */
export async function updateJobProgress(
  db: Queryable,
  id: string,
  workerId: string,
  progress: Record<string, unknown>,
): Promise<boolean> {
  const rows = await db.update(jobs).set({ progress }).where(and(
    eq(jobs.id, id),
    eq(jobs.lockedBy, workerId),
    inArray(jobs.status, [...LEASED_STATUSES]),
  )).returning({ id: jobs.id });
  return rows.length > 0;
}
