/** Epoch-end checkpoints; only the newest is kept. */
import { desc, eq, sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { type JobLease, leaseCte } from "./_lease.ts";
import { type CheckpointRow, checkpoints } from "./schema.ts";

/**
 * Stores the checkpoint after `epoch` and drops older ones of the job (resume
 * only ever reads the newest, and weights can be megabytes per epoch), in one
 * statement fenced by `lease`. Idempotent. False when the lease is gone.
 */
export async function saveCheckpoint(
  db: Queryable,
  lease: JobLease,
  epoch: number,
  weights: Uint8Array,
  optimizerState: Uint8Array,
): Promise<boolean> {
  const rows = await db.execute<{ epoch: number }>(sql`
    with ${leaseCte(lease)}, saved as (
      insert into checkpoints (job_id, epoch, weights, optimizer_state)
      select id, ${epoch}::int, ${weights}::bytea, ${optimizerState}::bytea
      from lease
      on conflict (job_id, epoch) do update
        set weights = excluded.weights,
          optimizer_state = excluded.optimizer_state
      returning epoch
    ), pruned as (
      delete from checkpoints
      where job_id = ${lease.jobId}::uuid and epoch < ${epoch}::int
        and exists (select 1 from saved)
    )
    select epoch from saved`);
  return rows.length > 0;
}

/** The newest checkpoint of `jobId`, if any. */
export async function getLatestCheckpoint(
  db: Queryable,
  jobId: string,
): Promise<CheckpointRow | undefined> {
  const [row] = await db.select().from(checkpoints)
    .where(eq(checkpoints.jobId, jobId))
    .orderBy(desc(checkpoints.epoch))
    .limit(1);
  return row;
}
