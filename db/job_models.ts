/** The trained model of a job, as GET /v1/jobs/{id}/model serves it. */
import { eq } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { type JobModelRow, jobModels } from "./schema.ts";

/** Stores (or replaces) the model of `jobId`. */
export async function saveJobModel(
  db: Queryable,
  jobId: string,
  modelJson: Record<string, unknown>,
  weightData: Uint8Array,
): Promise<void> {
  await db.insert(jobModels).values({ jobId, modelJson, weightData })
    .onConflictDoUpdate({
      target: jobModels.jobId,
      set: { modelJson, weightData },
    });
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
