/**
 * Epoch-end checkpoints; the newest few are kept (resume reads the newest,
 * the others stay downloadable). The payloads go to the blob store and the
 * row keeps their names; rows from before the blob store keep theirs in
 * bytea, and both read back the same.
 */
import { and, desc, eq, sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { type JobLease, leaseCte } from "./_lease.ts";
import {
  commitBlobs,
  referenceOutcome,
  type ReferenceOutcomeRow,
  referenceOutcomeSql,
  releasedRefsSql,
} from "./blob_refs.ts";
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

/** What a checkpoint row may carry besides its two payloads. */
export interface CheckpointExtras {
  /** Optimizer steps taken so far. */
  step?: number;
  /** The model at this epoch in TF.js layers format. */
  model?: { modelJson: Record<string, unknown>; weightData: Uint8Array };
  /** How many of the job's newest checkpoints to keep, this one included (≥ 1; default 1). */
  keep?: number;
}

/**
 * Stores the checkpoint after `epoch` and drops the job's older ones beyond
 * the newest `extras.keep`: the payloads into the blob store, the row in one
 * statement fenced by `lease`, which also releases the blobs of the rows it
 * replaced or dropped; those no other row names are then deleted.
 * Idempotent. False when the lease is gone (nothing is then stored).
 */
export async function saveCheckpoint(
  db: Queryable,
  store: BlobStore,
  lease: JobLease,
  epoch: number,
  weights: Uint8Array | ReadableStream<Uint8Array>,
  optimizerState: Uint8Array | ReadableStream<Uint8Array>,
  extras: CheckpointExtras = {},
): Promise<boolean> {
  const keep = Math.max(1, Math.floor(extras.keep ?? 1));
  const staged: StagedBlob[] = [];
  const payloads = [weights, optimizerState];
  if (extras.model) payloads.push(extras.model.weightData);
  try {
    for (const payload of payloads) {
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
  const [w, o, m] = staged;
  const modelJson = extras.model
    ? JSON.stringify(extras.model.modelJson)
    : null;
  return await commitBlobs(db, store, staged, async () => {
    const [row] = await db.execute<ReferenceOutcomeRow>(
      sql`
      with ${leaseCte(lease)}, kept as (
        -- The older rows that stay beside the new one.
        select epoch from checkpoints
        where job_id = ${lease.jobId}::uuid and epoch < ${epoch}::int
        order by epoch desc limit ${keep - 1}::int
      ), previous as (
        select epoch, weights_sha256, optimizer_sha256, model_weights_sha256
        from checkpoints
        where job_id = ${lease.jobId}::uuid and (epoch = ${epoch}::int
          or (epoch < ${epoch}::int and epoch not in (select epoch from kept)))
      ), saved as (
        insert into checkpoints (job_id, epoch, weights_sha256, weights_size,
          optimizer_sha256, optimizer_size, step, model_json,
          model_weights_sha256, model_weights_size)
        select id, ${epoch}::int, ${w.sha256}, ${w.size}::bigint,
          ${o.sha256}, ${o.size}::bigint, ${extras.step ?? null}::int,
          ${modelJson}::jsonb, ${m?.sha256 ?? null}::text,
          ${m?.size ?? null}::bigint
        from lease
        on conflict (job_id, epoch) do update
          set weights = null, optimizer_state = null,
            weights_sha256 = excluded.weights_sha256,
            weights_size = excluded.weights_size,
            optimizer_sha256 = excluded.optimizer_sha256,
            optimizer_size = excluded.optimizer_size,
            step = excluded.step, model_json = excluded.model_json,
            model_weights_sha256 = excluded.model_weights_sha256,
            model_weights_size = excluded.model_weights_size
        returning epoch
      ), pruned as (
        delete from checkpoints
        where job_id = ${lease.jobId}::uuid and epoch < ${epoch}::int
          and epoch in (select epoch from previous)
          and exists (select 1 from saved)
      ), released(sha256) as (
        -- Saved: the replaced and pruned rows give up their references (the
        -- new row keeps the pins). Not saved: the pins are given back.
        select unnest(array[weights_sha256, optimizer_sha256,
          model_weights_sha256]) from previous
        where exists (select 1 from saved)
        union all
        select unnest(array[${w.sha256}::text, ${o.sha256}::text,
          ${m?.sha256 ?? null}::text])
        where not exists (select 1 from saved)
      ), ${releasedRefsSql()}
      ${referenceOutcomeSql()}`,
    );
    return referenceOutcome(row);
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

/** One kept checkpoint as listed: its row (payloads not read) and that epoch's metrics. */
export interface CheckpointSummary {
  epoch: number;
  step: number | null;
  createdAt: Date;
  /** The exported model's weights.bin, when the row has one. */
  modelWeightsSha256: string | null;
  modelWeightsSize: number | null;
  trainLoss: number | null;
  valLoss: number | null;
  valAccuracy: number | null;
}

/** The kept checkpoints of `jobId`, newest first, with their epochs' metrics. */
export async function listCheckpoints(
  db: Queryable,
  jobId: string,
): Promise<CheckpointSummary[]> {
  const rows = await db.execute<{
    epoch: number;
    step: number | null;
    created_at: string | Date;
    model_weights_sha256: string | null;
    model_weights_size: string | number | null;
    train_loss: number | null;
    val_loss: number | null;
    val_accuracy: number | null;
  }>(sql`
    select c.epoch, c.step, c.created_at, c.model_weights_sha256,
      c.model_weights_size, m.train_loss, m.val_loss, m.val_accuracy
    from checkpoints c
    left join epoch_metrics m on m.job_id = c.job_id and m.epoch = c.epoch
    where c.job_id = ${jobId}::uuid
    order by c.epoch desc`);
  return rows.map((r) => ({
    epoch: r.epoch,
    step: r.step,
    createdAt: new Date(r.created_at),
    modelWeightsSha256: r.model_weights_sha256,
    modelWeightsSize: r.model_weights_size === null
      ? null
      : Number(r.model_weights_size),
    trainLoss: r.train_loss,
    valLoss: r.val_loss,
    valAccuracy: r.val_accuracy,
  }));
}

/** The checkpoint of `jobId` after `epoch`, if kept (payloads not read). */
export async function getCheckpoint(
  db: Queryable,
  jobId: string,
  epoch: number,
): Promise<CheckpointRow | undefined> {
  const [row] = await db.select().from(checkpoints)
    .where(and(eq(checkpoints.jobId, jobId), eq(checkpoints.epoch, epoch)))
    .limit(1);
  return row;
}
