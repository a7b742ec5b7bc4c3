/**
 * The trained model of a job, as GET /v1/jobs/{id}/model serves it: the
 * model.json in the row, weights.bin in the blob store (or, for rows written
 * before it, in the row).
 */
import { eq, sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { type JobLease, leaseCte } from "./_lease.ts";
import { jsonParam } from "./_rows.ts";
import {
  commitBlobs,
  referenceOutcome,
  type ReferenceOutcomeRow,
  referenceOutcomeSql,
  releasedRefsSql,
} from "./blob_refs.ts";
import { type BlobStore, bytesStream } from "./blob_store.ts";
import { type JobModelRow, jobModels } from "./schema.ts";

/**
 * Stores (or replaces) the model of a held job, its weights as a blob; false
 * when the lease is gone. A replaced model's weights blob is deleted unless
 * something else still names it.
 */
export async function saveJobModel(
  db: Queryable,
  store: BlobStore,
  lease: JobLease,
  modelJson: Record<string, unknown>,
  weightData: Uint8Array,
): Promise<boolean> {
  const staged = await store.stage(bytesStream(weightData));
  return await commitBlobs(db, store, [staged], async () => {
    const [row] = await db.execute<ReferenceOutcomeRow>(
      sql`
      with ${leaseCte(lease)}, previous as (
        select weights_sha256 from job_models
        where job_id = ${lease.jobId}::uuid
      ), saved as (
        insert into job_models (job_id, model_json, weights_sha256, weights_size)
        select id, ${jsonParam(modelJson)}::jsonb, ${staged.sha256},
          ${staged.size}::bigint
        from lease
        on conflict (job_id) do update
          set model_json = excluded.model_json, weight_data = null,
            weights_sha256 = excluded.weights_sha256,
            weights_size = excluded.weights_size
        returning job_id
      ), released(sha256) as (
        select weights_sha256 from previous where exists (select 1 from saved)
        union all
        select ${staged.sha256}::text where not exists (select 1 from saved)
      ), ${releasedRefsSql()}
      ${referenceOutcomeSql()}`,
    );
    return referenceOutcome(row);
  });
}

/** The model row of `jobId`, if training stored one. */
export async function getJobModel(
  db: Queryable,
  jobId: string,
): Promise<JobModelRow | undefined> {
  const [row] = await db.select().from(jobModels)
    .where(eq(jobModels.jobId, jobId));
  return row;
}

/**
 * A model's weights.bin as a stream, from the blob store or the legacy
 * column.
 * @throws {BlobNotFoundError} when the row's blob is missing.
 */
export async function openJobModelWeights(
  store: BlobStore,
  row: JobModelRow,
): Promise<ReadableStream<Uint8Array>> {
  return row.weightsSha256
    ? await store.get(row.weightsSha256)
    : bytesStream(row.weightData!);
}
