/** Epoch-end checkpoints; only the newest is kept. */
import { and, desc, eq, lt } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { type CheckpointRow, checkpoints } from "./schema.ts";

/**
 * Stores the checkpoint after `epoch` and drops older ones of the job: resume
 * only ever reads the newest, and weights can be megabytes per epoch.
 */
export async function saveCheckpoint(
  db: Queryable,
  jobId: string,
  epoch: number,
  weights: Uint8Array,
  optimizerState: Uint8Array,
): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.insert(checkpoints)
      .values({ jobId, epoch, weights, optimizerState })
      .onConflictDoUpdate({
        target: [checkpoints.jobId, checkpoints.epoch],
        set: { weights, optimizerState },
      });
    await tx.delete(checkpoints)
      .where(and(eq(checkpoints.jobId, jobId), lt(checkpoints.epoch, epoch)));
  });
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
