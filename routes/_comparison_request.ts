/**
 * The POST /v1/comparisons body and its expansion into jobs: one job per
 * (optimizer, seed), each validated and admitted exactly as a POST /v1/jobs
 * body, with every error naming the comparison's field at fault.
 */
import { z } from "@hono/zod-openapi";
import {
  COMPARISON_METRIC_NAMES,
  type ComparisonMetric,
  type DatasetSummary,
} from "../db/mod.ts";
import type { RouteOptions } from "./options.ts";
import { ApiError, fieldErrors, validationError } from "./problem.ts";
import {
  ApiJobSpec,
  ApiOptimizerSpec,
  JobBody,
  requestVariant,
  responseVariant,
} from "./_api_job_spec.ts";
import { OptimizerSpec } from "../src/engine/spec.ts";
import { metricUnavailable } from "./_comparison_metric.ts";
import { admitJobSpec } from "./_job_admission.ts";
import { sameJson } from "./_same_json.ts";

/** Most optimizers in one comparison. */
export const MAX_OPTIMIZERS = 8;
/** Most seeds in one comparison. */
export const MAX_SEEDS = 5;
/** Most jobs (optimizers x seeds) in one comparison: it is queued whole. */
export const MAX_COMPARISON_JOBS = 20;

/**
 * The shared spec: a job body whose optimizer and seed each job replaces.
 * `omit` drops JobSpec's cross-field refinements; planJobs parses every job
 * with ApiJobSpec itself, which runs them.
 */
export const ComparisonSpec = requestVariant(
  JobBody.omit({ optimizer: true, seed: true }).safeExtend({
    optimizer: OptimizerSpec.optional().openapi({
      description: "ignored: each job gets one of `optimizers`",
    }),
    seed: z.int().optional().openapi({
      description: "ignored: each job gets one of `seeds`",
    }),
  }),
).openapi("ComparisonSpecInput");

/** The shared spec as a comparison stores it: defaults filled in, no optimizer or seed. */
export const ComparisonSpecOutput = responseVariant(
  JobBody.omit({ optimizer: true, seed: true }),
).openapi("ComparisonSpec", {
  description:
    "the shared spec, defaults filled in, without optimizer and seed",
});

/** The stored spec: validated, defaults filled in, optimizer and seed left out. */
export type BaseSpec = Omit<ApiJobSpec, "optimizer" | "seed">;

/** A metric and the value that counts as reaching it. */
export const ComparisonTargetSchema = z.strictObject({
  metric: z.enum(COMPARISON_METRIC_NAMES).openapi({
    description:
      "higher is better for val_accuracy, val_exact_match and val_bleu; lower for val_loss and val_reconstruction_error",
  }),
  value: z.number(),
}).openapi("ComparisonTarget");

const counted = (what: string, max: number) => ({
  error: (issue: { input?: unknown }) =>
    `${what} must hold 1 to ${max} entries, got ${
      Array.isArray(issue.input) ? issue.input.length : 0
    }`,
});

/** POST /v1/comparisons body. */
export const ComparisonRequest = z.strictObject({
  spec: ComparisonSpec,
  optimizers: z.array(ApiOptimizerSpec)
    .min(1, counted("optimizers", MAX_OPTIMIZERS))
    .max(MAX_OPTIMIZERS, counted("optimizers", MAX_OPTIMIZERS)),
  seeds: z.array(z.int())
    .min(1, counted("seeds", MAX_SEEDS))
    .max(MAX_SEEDS, counted("seeds", MAX_SEEDS)),
  target: ComparisonTargetSchema.optional(),
}).superRefine(checkRequest).openapi("ComparisonRequest", {
  example: {
    spec: {
      model: {
        input_shape: [64],
        layers: [
          { type: "dense", units: 64, activation: "relu" },
          { type: "dense", units: 10 },
        ],
      },
      dataset: { name: "synthetic", samples: 4096, features: 64, classes: 10 },
      epochs: 5,
      batch_size: 128,
    },
    optimizers: [
      { name: "fngd", lr: 0.1, momentum: 0.9, damping: 1.0 },
      { name: "sgd", lr: 0.1, momentum: 0.9 },
      { name: "adamw", lr: 0.001 },
    ],
    seeds: [1, 2, 3],
    target: { metric: "val_accuracy", value: 0.88 },
  },
});

/** The validated body, defaults filled in. */
export type ComparisonRequest = z.infer<typeof ComparisonRequest>;

type Issue = { path: (string | number)[]; message: string };

/**
 * Checks between fields: no optimizer or seed twice, at most
 * {@link MAX_COMPARISON_JOBS} jobs, and a target metric the task reports.
 */
function checkRequest(
  body: {
    spec: z.infer<typeof ComparisonSpec>;
    optimizers: unknown[];
    seeds: number[];
    target?: { metric: ComparisonMetric };
  },
  ctx: { addIssue(issue: z.core.$ZodRawIssue): void },
): void {
  const issue = ({ path, message }: Issue) =>
    ctx.addIssue({ code: "custom", input: body, path, message });
  // Defaults are filled in by now, so {"name": "sgd"} duplicates
  // {"name": "sgd", "lr": 0.1}: the same job twice would only add noise.
  body.optimizers.forEach((o, j) => {
    const i = body.optimizers.findIndex((p) => sameJson(p, o));
    if (i < j) {
      issue({
        path: ["optimizers", j],
        message:
          `each optimizer may appear once (defaults filled in); this one repeats optimizers.${i}`,
      });
    }
  });
  body.seeds.forEach((s, j) => {
    const i = body.seeds.indexOf(s);
    if (i < j) {
      issue({
        path: ["seeds", j],
        message: `each seed may appear once; ${s} repeats seeds.${i}`,
      });
    }
  });
  const jobs = body.optimizers.length * body.seeds.length;
  if (jobs > MAX_COMPARISON_JOBS) {
    issue({
      path: [],
      message:
        `a comparison runs at most ${MAX_COMPARISON_JOBS} jobs (optimizers x seeds), got ${body.optimizers.length} x ${body.seeds.length} = ${jobs}`,
    });
  }
  if (body.target) {
    const why = metricUnavailable(body.spec, body.target.metric);
    if (why) issue({ path: ["target", "metric"], message: why });
  }
}

/** One job of a comparison: which optimizer and seed, and its full spec. */
export interface PlannedJob {
  /** Index into the request's `optimizers`. */
  optimizer: number;
  /** Index into the request's `seeds`. */
  seedIndex: number;
  seed: number;
  spec: ApiJobSpec;
}

/** The shared spec without the fields each job replaces. */
export function baseSpec(spec: z.infer<typeof ComparisonSpec>): BaseSpec {
  const { optimizer: _optimizer, seed: _seed, ...base } = spec;
  return base;
}

/**
 * One job spec per (optimizer, seed), optimizer by optimizer, each parsed
 * with the schema POST /v1/jobs uses, so a comparison can never queue a job
 * that endpoint would refuse.
 * @throws {ApiError} `validation_failed` naming `optimizers.i...`,
 * `seeds.j` or `spec...`.
 */
export function planJobs(body: ComparisonRequest): PlannedJob[] {
  const base = baseSpec(body.spec);
  const planned: PlannedJob[] = [];
  body.optimizers.forEach((optimizer, i) => {
    body.seeds.forEach((seed, j) => {
      const parsed = ApiJobSpec.safeParse({ ...base, optimizer, seed });
      if (!parsed.success) {
        const issues = parsed.error.issues.map((issue) => ({
          ...issue,
          path: requestPath(issue.path.map(String), i, j),
        }));
        throw validationError(fieldErrors(issues, "json"));
      }
      planned.push({ optimizer: i, seedIndex: j, seed, spec: parsed.data });
    });
  });
  return planned;
}

/** A path inside job (i, j)'s spec, as a path inside the comparison body. */
function requestPath(path: string[], i: number, j: number): string[] {
  if (path[0] === "optimizer") {
    return ["optimizers", String(i), ...path.slice(1)];
  }
  if (path[0] === "seed") return ["seeds", String(j)];
  return ["spec", ...path];
}

/**
 * Runs POST /v1/jobs's admission (shape inference, memory estimate) on every
 * planned job; nothing is queued unless all of them pass.
 * @throws {ApiError} `invalid_spec` (400) or `too_large` (422), its field
 * paths and detail naming the optimizer and seed at fault.
 */
export function admitComparisonJobs(
  jobs: PlannedJob[],
  upload: DatasetSummary | undefined,
  limits: Pick<RouteOptions, "maxJobBytes">,
): void {
  for (const job of jobs) {
    try {
      admitJobSpec(job.spec, upload, limits);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      const where = `optimizers.${job.optimizer} (${job.spec.optimizer.name})`;
      throw new ApiError(
        err.code,
        `${where} with seed ${job.seed}: ${err.message}`,
        {
          ...err.extra,
          cause: err,
          errors: err.extra.errors?.map((e) => ({
            ...e,
            path: requestPath(e.path.split("."), job.optimizer, job.seedIndex)
              .join("."),
          })),
        },
      );
    }
  }
}
