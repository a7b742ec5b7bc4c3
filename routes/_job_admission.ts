/**
 * Admission control for POST /v1/jobs, before anything is written: the spec
 * must be runnable (shape inference), its estimated memory within
 * MAX_JOB_BYTES, and the tenant under its queued-jobs quota. The engine's
 * checkJobFits is the same check a worker runs before training.
 */
import {
  countQueuedJobs,
  type DatasetSummary,
  type Db,
  getDataset,
} from "../db/mod.ts";
// The pure modules, not engine/mod.ts: the API process never loads TF.js.
import {
  checkJobFits,
  JobTooLargeError,
  uploadedDatasetInfo,
} from "../src/engine/admission.ts";
import type { JobSpec } from "../src/engine/spec.ts";
import { EngineError } from "../src/engine/types.ts";
import { ApiError, validationError } from "./problem.ts";
import type { ApiJobSpec } from "./_api_job_spec.ts";
import type { RouteOptions } from "./options.ts";

/**
 * Seconds a client is told to wait after a 429: a worker takes at least
 * seconds to finish a job and free a queue slot, so sooner is wasted; longer
 * would leave capacity idle.
 */
export const QUEUE_RETRY_AFTER_SECONDS = 30;

/**
 * The tenant's uploaded dataset that `dataset` names with `{"id"}`; undefined
 * for the other dataset forms.
 * @throws {ApiError} `validation_failed` at `path` when the tenant has none
 * by that id.
 */
export async function findUploadedDataset(
  db: Db,
  tenant: string,
  dataset: ApiJobSpec["dataset"],
  path = "dataset.id",
): Promise<DatasetSummary | undefined> {
  if (!("id" in dataset)) return undefined;
  const id = dataset.id;
  const upload = await getDataset(db, tenant, id);
  if (!upload) {
    throw validationError([{
      path,
      in: "body",
      message: `no uploaded dataset ${id} for this tenant`,
    }]);
  }
  return upload;
}

/**
 * Checks that the engine can run `spec` within `limits.maxJobBytes`.
 * `upload` is the dataset row for `{"id"}` datasets.
 * @throws {ApiError} `invalid_spec` (400) naming the field at fault, or
 * `too_large` (422) with the estimate broken down.
 */
export function admitJobSpec(
  spec: JobSpec,
  upload: DatasetSummary | undefined,
  limits: Pick<RouteOptions, "maxJobBytes">,
): void {
  try {
    checkJobFits(
      spec,
      limits.maxJobBytes,
      upload ? uploadedDatasetInfo(upload) : undefined,
    );
  } catch (err) {
    if (err instanceof JobTooLargeError) {
      throw new ApiError("too_large", err.message, {
        cause: err,
        members: {
          estimate: err.estimate.bytes,
          limit_bytes: err.limitBytes,
          flops_per_step: err.estimate.flops.total,
        },
      });
    }
    if (err instanceof EngineError && err.code === "invalid_spec") {
      const path = (err.path ?? []).join(".");
      throw new ApiError(
        "invalid_spec",
        `the engine cannot run this spec: ${err.message}`,
        { cause: err, errors: [{ path, in: "body", message: err.message }] },
      );
    }
    throw err;
  }
}

/**
 * Refuses `adding` new jobs (default 1) unless `tenant`'s queued ones plus
 * them stay within `limits.maxQueuedPerTenant` (0: no quota). A soft limit:
 * concurrent submissions may pass it by their number, which a quota against
 * floods does not need to prevent.
 * @throws {ApiError} `too_many_queued_jobs` (429) with Retry-After.
 */
export async function checkQueueQuota(
  db: Db,
  limits: Pick<RouteOptions, "maxQueuedPerTenant">,
  tenant: string,
  adding = 1,
): Promise<void> {
  const max = limits.maxQueuedPerTenant;
  if (max === 0) return;
  const queued = await countQueuedJobs(db, tenant);
  if (queued + adding > max) {
    const these = adding === 1 ? "" : `, and this request adds ${adding}`;
    throw new ApiError(
      "too_many_queued_jobs",
      `at most ${max} queued jobs per tenant, found ${queued}${these}; retry after ${QUEUE_RETRY_AFTER_SECONDS} s, when workers have started some, or cancel some`,
      { headers: { "Retry-After": String(QUEUE_RETRY_AFTER_SECONDS) } },
    );
  }
}
