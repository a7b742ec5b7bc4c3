/** The trained model of a job, as GET /v1/jobs/{id}/model serves it. */
import { eq, sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { type JobLease, leaseCte } from "./_lease.ts";
import { jsonParam } from "./_rows.ts";
import { type JobModelRow, jobModels } from "./schema.ts";

/** Stores (or replaces) the model of a held job; false when the lease is gone. */
export async function saveJobModel(
  db: Queryable,
  lease: JobLease,
  modelJson: Record<string, unknown>,
  weightData: Uint8Array,
): Promise<boolean> {
  const rows = await db.execute<{ job_id: string }>(sql`
    with ${leaseCte(lease)}
    insert into job_models (job_id, model_json, weight_data)
    select id, ${jsonParam(modelJson)}::jsonb, ${weightData}::bytea from lease
    on conflict (job_id) do update
      set model_json = excluded.model_json, weight_data = excluded.weight_data
    returning job_id`);
  return rows.length > 0;
}

/** The model of `jobId`, if training stored one. */
export async function getJobModel(
  db: Queryable,
  jobId: string,
): Promise<JobModelRow | undefined> {
  const [row] = await db.select().from(jobModels)
    .where(eq(jobModels.jobId, jobId));
  return row;
}
