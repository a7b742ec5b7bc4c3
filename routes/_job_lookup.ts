/**
 * The `{id}` path parameter of every /v1/jobs/{id}/... route and the tenant-
 * scoped lookup behind it, so each sub-resource answers 404 the same way.
 */
import { z } from "@hono/zod-openapi";
import { type Db, getJob, type JobRow } from "../db/mod.ts";
import { ApiError } from "./problem.ts";

/** `{id}`: any string, so that a malformed id is an unknown job (404), not a 400. */
export const JobIdParam = z.object({
  id: z.string().max(200).openapi({
    param: { name: "id", in: "path" },
    example: "0196f3a2-7c1e-7d0a-9a53-2b1f0c8e4d11",
  }),
});

/**
 * The tenant's job, or a 404 that never says whether another tenant owns it.
 * @throws {ApiError} `job_not_found`.
 */
export async function findJob(
  db: Db,
  tenant: string,
  id: string,
): Promise<JobRow> {
  const job = await getJob(db, tenant, id);
  if (!job) throw new ApiError("job_not_found", `no job ${id} for this tenant`);
  return job;
}
