/**
 * Epoch-end checkpoints; only the newest is kept. The payloads go to the
 * blob store and the row keeps their names; rows from before the blob store
 * keep theirs in bytea, and both read back the same.
 */
import { desc, eq, sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { type JobLease, leaseCte } from "./_lease.ts";
import { commitBlobs, releasedRefsSql } from "./blob_refs.ts";
import {
  type BlobStore,
  bytesStream,
  readBlob,
  type StagedBlob,
} from "./blob_store.ts";
import { type CheckpointRow, checkpoints } from "./schema.ts";

/** A checkpoint's two payloads, wherever they were stored. */
export interface CheckpointPayload {
  epoch: number;
  weights: Uint8Array;
  optimizerState: Uint8Array;
}

/**
 * Stores the checkpoint after `epoch` and drops older ones of the job (resume
 * only ever reads the newest): the payloads into the blob store, the row in
 * one statement fenced by `lease`, which also releases the blobs of the rows
 * it replaced or dropped; those no other row names are then deleted.
 * Idempotent. False when the lease is gone (nothing is then stored).
 */
export async function saveCheckpoint(
  db: Queryable,
  store: BlobStore,
  lease: JobLease,
  epoch: number,
  weights: Uint8Array | ReadableStream<Uint8Array>,
  optimizerState: Uint8Array | ReadableStream<Uint8Array>,
): Promise<boolean> {
  const staged: StagedBlob[] = [];
  try {
    for (const payload of [weights, optimizerState]) {
      staged.push(
        await store.stage(
          payload instanceof Uint8Array ? bytesStream(payload) : payload,
        ),
      );
    }
  } catch (err) {
    await Promise.all(staged.map((s) => s.discard()));
    throw err;
  }
  const [w, o] = staged;
  return await commitBlobs(db, store, staged, async () => {
    const [row] = await db.execute<
      { saved: boolean; collectable: string | null }
    >(
      sql`
      with ${leaseCte(lease)}, previous as (
        select weights_sha256, optimizer_sha256 from checkpoints
        where job_id = ${lease.jobId}::uuid and epoch <= ${epoch}::int
      ), saved as (
        insert into checkpoints (job_id, epoch, weights_sha256, weights_size,
          optimizer_sha256, optimizer_size)
        select id, ${epoch}::int, ${w.sha256}, ${w.size}::bigint,
          ${o.sha256}, ${o.size}::bigint
        from lease
        on conflict (job_id, epoch) do update
          set weights = null, optimizer_state = null,
            weights_sha256 = excluded.weights_sha256,
            weights_size = excluded.weights_size,
            optimizer_sha256 = excluded.optimizer_sha256,
            optimizer_size = excluded.optimizer_size
        returning epoch
      ), pruned as (
        delete from checkpoints
        where job_id = ${lease.jobId}::uuid and epoch < ${epoch}::int
          and exists (select 1 from saved)
      ), released(sha256) as (
        -- Saved: the replaced and pruned rows give up their references (the
        -- new row keeps the pins). Not saved: the pins are given back.
        select unnest(array[weights_sha256, optimizer_sha256]) from previous
        where exists (select 1 from saved)
        union all
        select unnest(array[${w.sha256}::text, ${o.sha256}::text])
        where not exists (select 1 from saved)
      ), ${releasedRefsSql()}
      select exists (select 1 from saved) as saved,
        (select string_agg(sha256, ',') from dropped where refs = 0)
          as collectable`,
    );
    return {
      saved: row.saved,
      collectable: row.collectable?.split(",") ?? [],
    };
  });
}

/** The newest checkpoint row of `jobId`, if any (payloads not read). */
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

/**
 * The newest checkpoint of `jobId` with both payloads read, from the blob
 * store or, for a row written before it, from the row itself.
 */
export async function loadLatestCheckpoint(
  db: Queryable,
  store: BlobStore,
  jobId: string,
): Promise<CheckpointPayload | undefined> {
  const row = await getLatestCheckpoint(db, jobId);
  if (!row) return undefined;
  if (row.weightsSha256 && row.optimizerSha256) {
    return {
      epoch: row.epoch,
      weights: await readBlob(
        store,
        row.weightsSha256,
        row.weightsSize ?? undefined,
      ),
      optimizerState: await readBlob(
        store,
        row.optimizerSha256,
        row.optimizerSize ?? undefined,
      ),
    };
  }
  return {
    epoch: row.epoch,
    weights: row.weights!,
    optimizerState: row.optimizerState!,
  };
}
