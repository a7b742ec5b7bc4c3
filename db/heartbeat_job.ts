/** Lease renewal, which doubles as the worker's cancellation check. */
import { sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { heldBy, type JobLease, leaseEnd } from "./_lease.ts";
import { jsonParam } from "./_rows.ts";

/**
 * Extends the lease if `lease` still holds the job. `ok` false means the job
 * was reclaimed or finished: the worker must stop and write nothing more.
 * `cancelRequested` means the API asked to cancel.
 */
export async function heartbeatJob(
  db: Queryable,
  lease: JobLease,
  leaseSeconds: number,
): Promise<{ ok: boolean; cancelRequested: boolean }> {
  const [row] = await db.execute<{ status: string }>(sql`
    update jobs set lease_until = ${
    leaseEnd(leaseSeconds)
  }, heartbeat_at = now()
    where ${heldBy(lease)}
    returning status`);
  return {
    ok: row !== undefined,
    cancelRequested: row?.status === "cancelling",
  };
}

/** Records the latest progress snapshot of a held job; false if no longer held. */
export async function updateJobProgress(
  db: Queryable,
  lease: JobLease,
  progress: Record<string, unknown>,
): Promise<boolean> {
  const rows = await db.execute<{ id: string }>(sql`
    update jobs set progress = ${jsonParam(progress)}::jsonb
    where ${heldBy(lease)}
    returning id`);
  return rows.length > 0;
}
