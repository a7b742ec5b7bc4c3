/** /v1/jobs: create (idempotent with a key), list, read and cancel jobs. */
import { createRoute, z } from "@hono/zod-openapi";
import {
  checkWebhookUrl,
  createJob,
  DEFAULT_WEBHOOK_EVENTS,
  getJobByIdempotencyKey,
  getLatestEpochMetric,
  isUuid,
  JOB_STATUSES,
  type JobRow,
  listJobs,
  requestCancel,
  STRICT_WEBHOOK_POLICY,
  WEBHOOK_EVENTS,
} from "../db/mod.ts";
import {
  ApiError,
  DATABASE_UNAVAILABLE_RESPONSE,
  FORBIDDEN_ORIGIN_RESPONSE,
  JSON_BODY_RESPONSES,
  MISDIRECTED_RESPONSE,
  problemResponse,
  TooLargeProblemSchema,
  tooManyQueuedResponse,
  validationError,
} from "./problem.ts";
import {
  admitJobSpec,
  checkQueueQuota,
  findUploadedDataset,
} from "./_job_admission.ts";
import { ApiJobCreateBody, ApiJobSpecOutput } from "./_api_job_spec.ts";
import { OPTIMIZER_NAMES } from "../src/engine/spec.ts";
import {
  JobErrorSchema,
  JobProgressSchema,
  JobResultSchema,
} from "./_job_schemas.ts";
import { findJob, JobIdParam } from "./_job_lookup.ts";
import { intParamOr } from "./_int_param.ts";
import { EpochMetricSchema, shapeEpochMetric } from "./_metric_shape.ts";
import {
  type AppDeps,
  BEARER_SECURITY,
  idempotentJsonRequest,
  newRouter,
} from "./_router.ts";
import { sameJson } from "./_same_json.ts";
import { newWebhookSecret } from "./_webhook_secret.ts";

/** A job's webhook as responses give it (never the secret). */
const WebhookSchema = z.object({
  url: z.string(),
  events: z.array(z.enum(WEBHOOK_EVENTS)),
}).openapi("Webhook");

/** A job as the API returns it. */
export const JobSchema = z.object({
  id: z.uuid(),
  status: z.enum(JOB_STATUSES),
  spec: ApiJobSpecOutput.openapi({
    description: "the submitted spec with every default filled in",
  }),
  attempts: z.int(),
  max_attempts: z.int(),
  // Unions with null, not .nullable(): zod-to-openapi would mark the shared
  // components themselves nullable.
  progress: z.union([JobProgressSchema, z.null()]),
  error: z.union([JobErrorSchema, z.null()]).openapi({
    description: "why it failed, once failed",
  }),
  result: z.union([JobResultSchema, z.null()]).openapi({
    description: "final metrics, counters and seconds_by_phase once succeeded",
  }),
  latest_metrics: z.union([EpochMetricSchema, z.null()]),
  cancel_requested_at: z.string().nullable().openapi({ format: "date-time" }),
  webhook: z.union([WebhookSchema, z.null()]).openapi({
    description: "where the job's events are posted, if anywhere",
  }),
  webhook_secret: z.string().optional().openapi({
    description:
      "the webhook's signing secret (whsec_...): only in the answer to the POST /v1/jobs that created the job (and its Idempotency-Key retries); keep it to verify deliveries",
  }),
  comparison_id: z.uuid().nullable().openapi({
    description: "the comparison that created this job, if any",
  }),
  created_at: z.string().openapi({ format: "date-time" }),
  started_at: z.string().nullable().openapi({ format: "date-time" }),
  finished_at: z.string().nullable().openapi({ format: "date-time" }),
}).openapi("Job");

type JobJson = z.infer<typeof JobSchema>;

const iso = (d: Date | null) => d ? d.toISOString() : null;

/** Row (+ its latest epoch metrics) -> JSON; the one place job JSON is built. */
export function shapeJob(
  row: JobRow,
  latest: Parameters<typeof shapeEpochMetric>[0] | undefined,
): JobJson {
  return {
    id: row.id,
    status: row.status,
    // The worker and the API wrote these as the schemas above type them.
    spec: row.spec as JobJson["spec"],
    attempts: row.attempts,
    max_attempts: row.maxAttempts,
    progress: (row.progress ?? null) as JobJson["progress"],
    error: (row.error ?? null) as JobJson["error"],
    result: (row.result ?? null) as JobJson["result"],
    latest_metrics: latest ? shapeEpochMetric(latest) : null,
    webhook: (row.webhook ?? null) as JobJson["webhook"],
    cancel_requested_at: iso(row.cancelRequestedAt),
    comparison_id: row.comparisonId,
    created_at: row.createdAt.toISOString(),
    started_at: iso(row.startedAt),
    finished_at: iso(row.finishedAt),
  };
}

const jobJson = { "application/json": { schema: JobSchema } };
const errors = {
  401: problemResponse("missing or invalid API key"),
  421: MISDIRECTED_RESPONSE,
  503: DATABASE_UNAVAILABLE_RESPONSE,
};

const create = createRoute({
  method: "post",
  path: "/v1/jobs",
  operationId: "createJob",
  tags: ["jobs"],
  summary: "Submit a training job",
  description:
    "With an Idempotency-Key header, a retry with the same key and body returns the job created first (200) instead of a new one.",
  security: BEARER_SECURITY,
  request: idempotentJsonRequest(ApiJobCreateBody, "job"),
  responses: {
    201: { description: "created", content: jobJson },
    200: {
      description: "an existing job with this Idempotency-Key",
      content: jobJson,
    },
    400: problemResponse(
      "invalid body or malformed JSON (validation_failed, malformed_json; a refused webhook.url names that field), a body over the shape limits (json_too_complex: arrays or objects over 10,000 entries, nesting over 32), or a spec the engine cannot run (invalid_spec, naming the layer field); nothing was written",
    ),
    ...errors,
    ...JSON_BODY_RESPONSES,
    422: problemResponse(
      "Idempotency-Key reused with a different body (idempotency_key_reused), or a job whose estimated memory exceeds MAX_JOB_BYTES (too_large, with the estimate broken down); nothing was written",
      TooLargeProblemSchema,
    ),
    429: tooManyQueuedResponse(
      "the tenant already has MAX_QUEUED_PER_TENANT queued jobs (too_many_queued_jobs); nothing was written",
    ),
  },
});

const list = createRoute({
  method: "get",
  path: "/v1/jobs",
  operationId: "listJobs",
  tags: ["jobs"],
  summary: "List jobs, newest first",
  security: BEARER_SECURITY,
  request: {
    query: z.object({
      status: z.enum(JOB_STATUSES).optional(),
      optimizer: z.enum(OPTIMIZER_NAMES).optional().openapi({
        description: "only jobs whose spec names this optimizer",
      }),
      after: z.string().max(200).optional().openapi({
        description: "cursor: the id of the last job of the previous page",
      }),
      limit: intParamOr("limit", 20, 1, 100),
    }),
  },
  responses: {
    200: {
      description: "one page",
      content: {
        "application/json": {
          schema: z.object({ data: z.array(JobSchema), has_more: z.boolean() })
            .openapi("JobPage"),
        },
      },
    },
    400: problemResponse("invalid query"),
    ...errors,
  },
});

const get = createRoute({
  method: "get",
  path: "/v1/jobs/{id}",
  operationId: "getJob",
  tags: ["jobs"],
  summary: "One job, with progress and latest metrics",
  security: BEARER_SECURITY,
  request: { params: JobIdParam },
  responses: {
    200: { description: "the job", content: jobJson },
    ...errors,
    404: problemResponse("no such job for this tenant"),
  },
});

const cancel = createRoute({
  method: "post",
  path: "/v1/jobs/{id}/cancel",
  operationId: "cancelJob",
  tags: ["jobs"],
  summary: "Request cancellation (idempotent)",
  description:
    "A queued job is cancelled at once; a running one moves to cancelling and stops within one step. Cancelling a finished job changes nothing.",
  security: BEARER_SECURITY,
  request: { params: JobIdParam },
  responses: {
    200: { description: "the job after the request", content: jobJson },
    ...errors,
    403: FORBIDDEN_ORIGIN_RESPONSE,
    404: problemResponse("no such job for this tenant"),
  },
});

function keyReused(key: string, job: JobRow): ApiError {
  return new ApiError(
    "idempotency_key_reused",
    `Idempotency-Key "${key}" was first used for job ${job.id} with a different body`,
  );
}

/** The /v1/jobs routes. */
export function jobRoutes({ db, options }: AppDeps) {
  const withMetrics = async (row: JobRow) =>
    shapeJob(row, await getLatestEpochMetric(db, row.id));
  // Only the creating request (and its retries) learns the secret.
  const withSecret = async (row: JobRow) => ({
    ...await withMetrics(row),
    ...(row.webhookSecret ? { webhook_secret: row.webhookSecret } : {}),
  });

  return newRouter()
    .openapi(create, async (c) => {
      const tenant = c.get("tenant");
      const { webhook: hook, ...spec } = c.req.valid("json");
      const webhook = hook && {
        url: hook.url,
        events: hook.events ?? DEFAULT_WEBHOOK_EVENTS,
      };
      const key = c.req.valid("header")["Idempotency-Key"];
      const same = (job: JobRow) =>
        sameJson(job.spec, spec) && sameJson(job.webhook, webhook ?? null);
      // A retry gets its job back even where a new submission is now refused.
      const existing = key
        ? await getJobByIdempotencyKey(db, tenant, key)
        : undefined;
      if (existing) {
        if (!same(existing)) throw keyReused(key!, existing);
        return c.json(await withSecret(existing), 200);
      }
      if (webhook) {
        const checked = checkWebhookUrl(
          webhook.url,
          options.webhookPolicy ?? STRICT_WEBHOOK_POLICY,
        );
        if ("error" in checked) {
          throw validationError([{
            path: "webhook.url",
            in: "body",
            message: `url ${checked.error}`,
          }]);
        }
      }
      const upload = await findUploadedDataset(db, tenant, spec.dataset);
      admitJobSpec(spec, upload, options);
      await checkQueueQuota(db, options, tenant);
      const { job, created } = await createJob(db, {
        tenant,
        spec,
        idempotencyKey: key,
        maxAttempts: options.maxAttempts,
        webhook: webhook && { ...webhook, secret: newWebhookSecret() },
      });
      if (!created && !same(job)) throw keyReused(key!, job);
      return c.json(await withSecret(job), created ? 201 : 200);
    })
    .openapi(list, async (c) => {
      const { status, optimizer, after, limit } = c.req.valid("query");
      if (after !== undefined && !isUuid(after)) {
        throw validationError([{
          path: "after",
          in: "query",
          message:
            `after must be a job id from a previous page, got "${after}"`,
        }]);
      }
      const page = await listJobs(db, c.get("tenant"), {
        status,
        optimizer,
        after,
        limit,
      });
      return c.json(
        {
          data: await Promise.all(page.data.map(withMetrics)),
          has_more: page.has_more,
        },
        200,
      );
    })
    .openapi(get, async (c) => {
      const job = await findJob(db, c.get("tenant"), c.req.valid("param").id);
      return c.json(await withMetrics(job), 200);
    })
    .openapi(cancel, async (c) => {
      const { id } = c.req.valid("param");
      const tenant = c.get("tenant");
      await findJob(db, tenant, id);
      const job = await requestCancel(db, tenant, id);
      if (!job) {
        throw new ApiError("job_not_found", `no job ${id} for this tenant`);
      }
      return c.json(await withMetrics(job), 200);
    });
}
