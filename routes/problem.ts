/**
 * The API's one error class and its RFC 9457 problem+json rendering. Routes
 * throw `ApiError`; `app.onError` renders it, so every error body has one shape.
 */
import { z } from "@hono/zod-openapi";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** Every error code the API answers with, and the HTTP status it maps to. */
export const ERROR_STATUS = {
  validation_failed: 400,
  malformed_json: 400,
  invalid_dataset: 400,
  invalid_spec: 400,
  bad_request: 400,
  json_too_complex: 400,
  unauthorized: 401,
  forbidden: 403,
  forbidden_origin: 403,
  job_not_found: 404,
  comparison_not_found: 404,
  dataset_not_found: 404,
  coefficients_not_found: 404,
  model_not_found: 404,
  checkpoint_not_found: 404,
  not_found: 404,
  metrics_disabled: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  payload_too_large: 413,
  unsupported_media_type: 415,
  misdirected_request: 421,
  idempotency_key_reused: 422,
  too_large: 422,
  too_many_queued_jobs: 429,
  internal: 500,
  not_ready: 503,
  database_unavailable: 503,
} as const satisfies Record<string, ContentfulStatusCode>;

/** A machine-readable error code. */
export type ApiErrorCode = keyof typeof ERROR_STATUS;

/** Human titles, stable per code (RFC 9457: the title does not vary per occurrence). */
const TITLES: Record<ApiErrorCode, string> = {
  validation_failed: "Request validation failed",
  malformed_json: "Malformed JSON",
  invalid_dataset: "Invalid dataset",
  invalid_spec: "Job spec cannot run",
  bad_request: "Bad request",
  json_too_complex: "JSON body too complex",
  unauthorized: "Unauthorized",
  forbidden: "Forbidden",
  forbidden_origin: "Cross-origin request refused",
  job_not_found: "Job not found",
  comparison_not_found: "Comparison not found",
  dataset_not_found: "Dataset not found",
  coefficients_not_found: "Coefficients not found",
  model_not_found: "Model not found",
  checkpoint_not_found: "Checkpoint not found",
  not_found: "Not found",
  metrics_disabled: "Metrics disabled",
  method_not_allowed: "Method not allowed",
  request_timeout: "Request timeout",
  payload_too_large: "Payload too large",
  unsupported_media_type: "Unsupported media type",
  misdirected_request: "Misdirected request",
  idempotency_key_reused: "Idempotency key reused",
  too_large: "Job too large",
  too_many_queued_jobs: "Too many queued jobs",
  internal: "Internal server error",
  not_ready: "Service not ready",
  database_unavailable: "Database unavailable",
};

/** One invalid input field. */
export interface FieldError {
  /** Dotted path inside the part, e.g. `optimizer.lr` or `model.layers.0.units`. */
  path: string;
  /** Which part of the request: body, query, path or header. */
  in: "body" | "query" | "path" | "header";
  message: string;
}

/** The one error class of the API; `code` decides the status and title. */
export class ApiError extends Error {
  readonly status: (typeof ERROR_STATUS)[ApiErrorCode];
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly extra: {
      errors?: FieldError[];
      /** Invalid fields counted but not listed in `errors`. */
      errorsOmitted?: number;
      headers?: Record<string, string>;
      /** Extension members of the problem body (RFC 9457 section 3.2). */
      members?: Record<string, unknown>;
      cause?: unknown;
    } = {},
  ) {
    super(message, { cause: extra.cause });
    this.name = "ApiError";
    this.status = ERROR_STATUS[code];
  }
}

/**
 * Field errors one problem lists; the rest are only counted, so a body with
 * thousands of bad elements cannot turn into a response many times its size.
 */
export const MAX_FIELD_ERRORS = 20;

/** The problem+json body, as documented in OpenAPI. */
export const ProblemSchema = z.object({
  type: z.string().openapi({ example: "/docs#problem-job_not_found" }),
  title: z.string().openapi({ example: "Job not found" }),
  status: z.int().openapi({ example: 404 }),
  detail: z.string().openapi({ example: "no job 0196... for this tenant" }),
  code: z.enum(Object.keys(ERROR_STATUS) as [ApiErrorCode, ...ApiErrorCode[]]),
  errors: z.array(z.object({
    path: z.string(),
    in: z.enum(["body", "query", "path", "header"]),
    message: z.string(),
  })).optional().openapi({
    description:
      `the invalid fields, for validation_failed and invalid_spec (at most ${MAX_FIELD_ERRORS})`,
  }),
  errors_omitted: z.int().optional().openapi({
    description: "how many invalid fields `errors` leaves out",
  }),
}).openapi("Problem");

/** Bytes by what holds them, as engine/cost.ts estimates them. */
export const MemoryEstimateSchema = z.object({
  total_bytes: z.number(),
  parameters: z.number(),
  optimizer_state: z.number().openapi({
    description:
      "momentum or Adam slots, K-FAC factors and inverses, fngd's cached coefficients",
  }),
  activations: z.number().openapi({
    description:
      "one training step's forward and backward tensors (conv patch matrices included), or an evaluation chunk",
  }),
  curvature: z.number().openapi({
    description:
      "Gram matrices and Cholesky solves (fngd, ngd), factor updates and inverses (kfac)",
  }),
  dataset: z.number(),
  checkpoint: z.number(),
}).openapi("MemoryEstimate");

/** The too_large problem: a Problem plus the estimate that exceeded the limit. */
export const TooLargeProblemSchema = ProblemSchema.extend({
  estimate: MemoryEstimateSchema.optional(),
  limit_bytes: z.number().optional().openapi({ description: "MAX_JOB_BYTES" }),
  flops_per_step: z.number().optional().openapi({
    description:
      "estimated FLOPs of one training step (fngd: an inversion-epoch step)",
  }),
}).openapi("TooLargeProblem");

/** The media type of every error body. */
export const PROBLEM_MEDIA_TYPE = "application/problem+json";

/** A createRoute `responses` entry for an error status; `schema` for one with extension members. */
export function problemResponse<S extends z.ZodType = typeof ProblemSchema>(
  description: string,
  schema: S = ProblemSchema as unknown as S,
) {
  return {
    description,
    content: { [PROBLEM_MEDIA_TYPE]: { schema } },
  };
}

/** `response` with its Retry-After header documented as `description`. */
function withRetryAfter<R extends object>(response: R, description: string) {
  return {
    ...response,
    headers: {
      "Retry-After": {
        description,
        schema: { type: "integer" as const, minimum: 1 },
      },
    },
  };
}

/**
 * The 503 of every route that needs the database, with its Retry-After.
 * Shared, since a lost database looks the same from every route.
 */
export const DATABASE_UNAVAILABLE_RESPONSE = withRetryAfter(
  problemResponse(
    "the database is unreachable (code database_unavailable); retry after Retry-After seconds",
  ),
  "seconds after which a retry may succeed",
);

/** The 429 of a route that queues jobs, with its Retry-After. */
export function tooManyQueuedResponse(description: string) {
  return withRetryAfter(
    problemResponse(description),
    "seconds to wait before submitting again",
  );
}

/** The 421 of every route while auth is off (DNS rebinding guard). */
export const MISDIRECTED_RESPONSE = problemResponse(
  "auth is off (no API_KEYS) and the Host is neither a loopback name nor PUBLIC_HOST (code misdirected_request)",
);

/** The 403 of every state-changing route (cross-site request guard). */
export const FORBIDDEN_ORIGIN_RESPONSE = problemResponse(
  "an Origin header that is neither the request's own origin nor in CORS_ORIGINS (code forbidden_origin); nothing was written",
);

/** The 408 of every route that reads a body. */
export const REQUEST_TIMEOUT_RESPONSE = problemResponse(
  "the body did not arrive, or was not read, within REQUEST_TIMEOUT_MS of the request's start (code request_timeout); nothing was written",
);

/** The 403, 408, 413 and 415 of every state-changing route with a JSON body. */
export const JSON_BODY_RESPONSES = {
  403: FORBIDDEN_ORIGIN_RESPONSE,
  408: REQUEST_TIMEOUT_RESPONSE,
  413: problemResponse("body larger than MAX_BODY_BYTES"),
  415: problemResponse("body is not application/json"),
};

/**
 * Longest `detail`, and longest `path` or `message` of a field error, in
 * characters. Each can quote the request (an unknown key, a value), and a
 * 900 KB key must not come back as a 900 KB answer.
 */
export const MAX_DETAIL_CHARS = 2000;
export const MAX_FIELD_TEXT_CHARS = 500;

/** `text`, cut to `max` characters with a note of how long it was. */
function clip(text: string, max: number): string {
  return text.length <= max
    ? text
    : `${text.slice(0, max)}... (${text.length} characters in all)`;
}

/** Renders an ApiError as an RFC 9457 response. */
export function renderProblem(err: ApiError): Response {
  const errors = err.extra.errors?.map((e) => ({
    ...e,
    path: clip(e.path, MAX_FIELD_TEXT_CHARS),
    message: clip(e.message, MAX_FIELD_TEXT_CHARS),
  }));
  const body: z.infer<typeof ProblemSchema> = {
    // A relative URI into the reference page, which lists every code.
    type: `/docs#problem-${err.code}`,
    title: TITLES[err.code],
    status: err.status,
    detail: clip(err.message, MAX_DETAIL_CHARS),
    code: err.code,
    ...(errors ? { errors } : {}),
    ...(err.extra.errorsOmitted
      ? { errors_omitted: err.extra.errorsOmitted }
      : {}),
  };
  // Extension members never override the standard ones.
  const full = { ...err.extra.members, ...body };
  return new Response(JSON.stringify(full), {
    status: err.status,
    headers: { "content-type": PROBLEM_MEDIA_TYPE, ...err.extra.headers },
  });
}

/** The documented list of codes, for the reference page. */
export function listProblemCodes(): {
  code: ApiErrorCode;
  status: number;
  title: string;
}[] {
  return (Object.keys(ERROR_STATUS) as ApiErrorCode[]).map((code) => ({
    code,
    status: ERROR_STATUS[code],
    title: TITLES[code],
  }));
}

const TARGET_PLACE: Record<string, FieldError["in"]> = {
  json: "body",
  form: "body",
  query: "query",
  param: "path",
  header: "header",
};

/**
 * Turns zod issues into field errors. `target` is hono's validation target
 * (json, form, query, param, header).
 */
export function fieldErrors(
  issues: readonly z.core.$ZodIssue[],
  target: string,
): FieldError[] {
  const place = TARGET_PLACE[target] ?? "body";
  return issues.map((issue) => ({
    path: issue.path.map(String).join("."),
    in: place,
    message: issue.message,
  }));
}

/**
 * A validation_failed error listing the invalid fields (the first
 * MAX_FIELD_ERRORS; the rest counted); nothing was written.
 */
export function validationError(
  errors: FieldError[],
  total = errors.length,
): ApiError {
  const listed = errors.slice(0, MAX_FIELD_ERRORS);
  const omitted = Math.max(0, total - listed.length);
  const where = listed.map((e) => e.path || `(${e.in})`).join(", ");
  return new ApiError(
    "validation_failed",
    `the request has ${total} invalid field(s): ${where}` +
      (omitted ? `, and ${omitted} more` : ""),
    { errors: listed, ...(omitted ? { errorsOmitted: omitted } : {}) },
  );
}
