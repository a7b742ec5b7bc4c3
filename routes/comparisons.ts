/** /v1/comparisons: run one spec with several optimizers and seeds, and read the table. */
import { createRoute, z } from "@hono/zod-openapi";
import {
  type ComparisonRow,
  createComparison,
  getComparisonByIdempotencyKey,
  isTerminalStatus,
  JOB_STATUSES,
  listComparisonEpochMetrics,
  listComparisonJobs,
} from "../db/mod.ts";
import {
  ApiError,
  DATABASE_UNAVAILABLE_RESPONSE,
  JSON_BODY_RESPONSES,
  MISDIRECTED_RESPONSE,
  problemResponse,
  TooLargeProblemSchema,
  tooManyQueuedResponse,
} from "./problem.ts";
import { ApiOptimizerSpecOutput } from "./_api_job_spec.ts";
import {
  ComparisonIdParam,
  comparisonRuns,
  findComparison,
} from "./_comparison_lookup.ts";
import { rankingMetric } from "./_comparison_metric.ts";
import {
  admitComparisonJobs,
  baseSpec,
  ComparisonRequest,
  ComparisonSpecOutput,
  ComparisonTargetSchema,
  MAX_COMPARISON_JOBS,
  MAX_OPTIMIZERS,
  MAX_SEEDS,
  planJobs,
} from "./_comparison_request.ts";
import { buildTable, ComparisonTableRowSchema } from "./_comparison_table.ts";
import { checkQueueQuota, findUploadedDataset } from "./_job_admission.ts";
import {
  type AppDeps,
  BEARER_SECURITY,
  idempotentJsonRequest,
  newRouter,
} from "./_router.ts";
import { sameJson } from "./_same_json.ts";

/** A comparison as the API returns it. */
export const ComparisonSchema = z.object({
  id: z.uuid(),
  spec: ComparisonSpecOutput,
  optimizers: z.array(ApiOptimizerSpecOutput),
  seeds: z.array(z.int()),
  target: z.union([ComparisonTargetSchema, z.null()]),
  metric: z.object({
    name: z.string().openapi({ example: "val_accuracy" }),
    better: z.enum(["higher", "lower"]),
  }).openapi({
    description:
      "what the table ranks by: the target's metric, or else val_reconstruction_error for autoencoders and val_accuracy otherwise",
  }),
  done: z.boolean().openapi({ description: "every job is terminal" }),
  jobs: z.array(z.object({
    id: z.uuid(),
    optimizer: z.int().openapi({ description: "index into `optimizers`" }),
    seed: z.int(),
    status: z.enum(JOB_STATUSES),
  })).openapi({ description: "optimizer by optimizer, in `seeds` order" }),
  table: z.array(ComparisonTableRowSchema).openapi({
    description: "one row per optimizer, in `optimizers` order",
  }),
  created_at: z.string().openapi({ format: "date-time" }),
}).openapi("Comparison");

type ComparisonJson = z.infer<typeof ComparisonSchema>;

const comparisonJson = { "application/json": { schema: ComparisonSchema } };
const errors = {
  401: problemResponse("missing or invalid API key"),
  421: MISDIRECTED_RESPONSE,
  503: DATABASE_UNAVAILABLE_RESPONSE,
};

const create = createRoute({
  method: "post",
  path: "/v1/comparisons",
  operationId: "createComparison",
  tags: ["comparisons"],
  summary: "Compare optimizers on one spec over several seeds",
  description: [
    "Queues one job per (optimizer, seed): `spec` with its `optimizer` replaced and its `seed` set.",
    "The engine derives the validation split, the batch order and the initial weights from `seed`,",
    "so jobs with the same seed start from the same weights and see the same batches: they differ only in the optimizer.",
    "Each job is validated and admitted exactly as a POST /v1/jobs body, and the jobs count against the queue quota together;",
    `a comparison holds at most ${MAX_OPTIMIZERS} optimizers, ${MAX_SEEDS} seeds and ${MAX_COMPARISON_JOBS} jobs,`,
    "and is created whole or not at all.",
    "With an Idempotency-Key header, a retry with the same key and body returns the comparison created first (200).",
  ].join(" "),
  security: BEARER_SECURITY,
  request: idempotentJsonRequest(ComparisonRequest, "comparison"),
  responses: {
    201: { description: "created, its jobs queued", content: comparisonJson },
    200: {
      description: "an existing comparison with this Idempotency-Key",
      content: comparisonJson,
    },
    400: problemResponse(
      "invalid body or malformed JSON (validation_failed, malformed_json; paths such as optimizers.2.lr), a body over the shape limits (json_too_complex), or a job the engine cannot run (invalid_spec); nothing was written",
    ),
    ...errors,
    ...JSON_BODY_RESPONSES,
    422: problemResponse(
      "Idempotency-Key reused with a different body (idempotency_key_reused), or a job whose estimated memory exceeds MAX_JOB_BYTES (too_large); nothing was written",
      TooLargeProblemSchema,
    ),
    429: tooManyQueuedResponse(
      "the tenant's queued jobs plus this comparison's would exceed MAX_QUEUED_PER_TENANT (too_many_queued_jobs); nothing was written",
    ),
  },
});

const get = createRoute({
  method: "get",
  path: "/v1/comparisons/{id}",
  operationId: "getComparison",
  tags: ["comparisons"],
  summary: "One comparison: its jobs and the table",
  description:
    "The table gives, per optimizer over its seeds, the best value of the metric (mean, min, max), the epochs and training seconds to reach the target (mean over the runs that reached it, and how many did), and the latest finished epoch; it is computed from the jobs' epoch metrics on each read.",
  security: BEARER_SECURITY,
  request: { params: ComparisonIdParam },
  responses: {
    200: { description: "the comparison", content: comparisonJson },
    ...errors,
    404: problemResponse("no such comparison for this tenant"),
  },
});

/** The request as stored: what an Idempotency-Key retry must match. */
function storedRequest(body: ComparisonRequest) {
  return {
    spec: baseSpec(body.spec),
    optimizers: body.optimizers,
    seeds: body.seeds,
    target: body.target ?? null,
  };
}

function sameRequest(row: ComparisonRow, body: ComparisonRequest): boolean {
  const want = storedRequest(body);
  return sameJson(row.spec, want.spec) &&
    sameJson(row.optimizers, want.optimizers) &&
    sameJson(row.seeds, want.seeds) && sameJson(row.target, want.target);
}

function keyReused(key: string, row: ComparisonRow): ApiError {
  return new ApiError(
    "idempotency_key_reused",
    `Idempotency-Key "${key}" was first used for comparison ${row.id} with a different body`,
  );
}

/** The /v1/comparisons routes. */
export function comparisonRoutes({ db, options }: AppDeps) {
  /** Row -> JSON with its jobs and table, read now. */
  const shape = async (row: ComparisonRow): Promise<ComparisonJson> => {
    const [jobs, metrics] = await Promise.all([
      listComparisonJobs(db, row.id),
      listComparisonEpochMetrics(db, row.id),
    ]);
    const runs = comparisonRuns(row, jobs);
    const spec = row.spec as ComparisonJson["spec"];
    const metric = rankingMetric(spec, row.target);
    return {
      id: row.id,
      spec,
      optimizers: row.optimizers as ComparisonJson["optimizers"],
      seeds: row.seeds,
      target: row.target ?? null,
      metric,
      done: jobs.every((j) => isTerminalStatus(j.status)),
      jobs: runs.map((r) => ({
        id: r.job.id,
        optimizer: r.optimizer,
        seed: r.seed,
        status: r.job.status,
      })),
      table: buildTable(runs, metrics, {
        metric: metric.name,
        target: row.target,
        optimizers: row.optimizers,
      }),
      created_at: row.createdAt.toISOString(),
    };
  };

  return newRouter()
    .openapi(create, async (c) => {
      const tenant = c.get("tenant");
      const body = c.req.valid("json");
      const key = c.req.valid("header")["Idempotency-Key"];
      // A retry gets its comparison back even where a new one is now refused.
      const existing = key
        ? await getComparisonByIdempotencyKey(db, tenant, key)
        : undefined;
      if (existing) {
        if (!sameRequest(existing, body)) throw keyReused(key!, existing);
        return c.json(await shape(existing), 200);
      }
      const jobs = planJobs(body);
      const upload = await findUploadedDataset(
        db,
        tenant,
        body.spec.dataset,
        "spec.dataset.id",
      );
      admitComparisonJobs(jobs, upload, options);
      await checkQueueQuota(db, options, tenant, jobs.length);
      const stored = storedRequest(body);
      const { comparison, created } = await createComparison(db, {
        tenant,
        ...stored,
        idempotencyKey: key,
        jobSpecs: jobs.map((j) => j.spec),
        maxAttempts: options.maxAttempts,
      });
      if (!created && !sameRequest(comparison, body)) {
        throw keyReused(key!, comparison);
      }
      return c.json(await shape(comparison), created ? 201 : 200);
    })
    .openapi(get, async (c) => {
      const row = await findComparison(
        db,
        c.get("tenant"),
        c.req.valid("param").id,
      );
      return c.json(await shape(row), 200);
    });
}
