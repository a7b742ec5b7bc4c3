/**
 * The JSON a job carries besides its spec, typed field by field so that
 * generated clients see numbers and enums instead of `unknown`: its progress,
 * result and error, and the `data` of every event type the log holds. Each
 * mirrors an engine type (src/engine/types.ts) or a worker write; the
 * `satisfies` checks below fail to compile when the two drift apart.
 */
import { z } from "@hono/zod-openapi";
import { JOB_STATUSES } from "../db/mod.ts";
import type {
  CoefficientLayerSummary,
  Counters,
  EngineErrorCode,
  EngineEvent,
  EpochEventData,
  FinalMetrics,
  Phase,
  StalenessEventData,
  StepEventData,
  TrainResult,
} from "../src/engine/types.ts";

/** A training phase: FNGD's epoch 1 inverts, later epochs reuse; others train. */
export const PhaseSchema = z.enum(["inversion", "inverse_free", "train"])
  .openapi("Phase");

/** The engine's error codes, in the order of its EngineErrorCode type. */
const ENGINE_ERROR_CODES = [
  "invalid_spec",
  "invalid_data",
  "data_not_found",
  "backend_unavailable",
  "diverged",
  "non_finite_coefficients",
  "cancelled",
  "invalid_checkpoint",
  "too_large",
] as const satisfies readonly EngineErrorCode[];
// Every engine code is listed: an unlisted one makes this `false`.
const _allEngineCodes: Exclude<
  EngineErrorCode,
  (typeof ENGINE_ERROR_CODES)[number]
> extends never ? true : false = true;

/**
 * Why a job failed: an engine code, `internal` (an unexpected worker error)
 * or `max_attempts_exceeded` (the reaper gave up on a dead worker's lease).
 */
export const JOB_ERROR_CODES = [
  ...ENGINE_ERROR_CODES,
  "internal",
  "max_attempts_exceeded",
] as const;

/** A failed job's error, as in `jobs.error` and the `job_error` event. */
export const JobErrorSchema = z.object({
  code: z.enum(JOB_ERROR_CODES),
  message: z.string(),
}).openapi("JobError");

/** The inverse-free counters of a finished run. */
export const CountersSchema = z.object({
  steps: z.int(),
  gram_computations: z.int().openapi({
    description:
      "Gram matrices and solves whose coefficients step the weights (epoch one, refreshes, ngd)",
  }),
  solves: z.int(),
  jitter_retries: z.int(),
  refreshes: z.int().openapi({
    description: "fngd: pairs re-solved by refresh auto after epoch one",
  }),
  staleness_probes: z.int().openapi({
    description:
      "fngd: pairs re-solved for measurement only (the staleness event)",
  }),
}).openapi("Counters");

/** Metrics after the last epoch; which appear depends on the task. */
export const FinalMetricsSchema = z.object({
  train_loss: z.number(),
  val_loss: z.number().nullable(),
  val_accuracy: z.number().nullable(),
  test_accuracy: z.number().optional(),
  val_reconstruction_error: z.number().nullable().optional(),
  test_reconstruction_error: z.number().optional(),
  val_exact_match: z.number().nullable().optional(),
  test_exact_match: z.number().optional(),
  val_bleu: z.number().nullable().optional(),
  test_bleu: z.number().optional(),
}).openapi("FinalMetrics");

/** Seconds spent per phase. */
const SecondsByPhase = z.object({
  inversion: z.number().optional(),
  inverse_free: z.number().optional(),
  train: z.number().optional(),
});

/** A succeeded job's result: final metrics, counters, time per phase. */
export const JobResultSchema = z.object({
  final: FinalMetricsSchema,
  counters: CountersSchema,
  seconds_by_phase: SecondsByPhase,
}).openapi("JobResult");

/**
 * The latest step of a running job (every ~500 ms), or an epoch's end (then
 * `step` = `steps` and `loss` is the epoch's training loss, without `lr`).
 */
export const JobProgressSchema = z.object({
  epoch: z.int(),
  step: z.int(),
  steps: z.int(),
  loss: z.number(),
  phase: PhaseSchema,
  lr: z.number().optional().openapi({
    description: "the learning rate of that step",
  }),
}).openapi("JobProgress");

/** `status` event data: every change of the job's status. */
export const StatusEventDataSchema = z.object({
  status: z.enum(JOB_STATUSES),
  worker: z.string().optional().openapi({
    description: "running: the worker that claimed it",
  }),
  attempt: z.int().optional().openapi({ description: "running: 1, 2, ..." }),
  result: JobResultSchema.optional().openapi({ description: "succeeded" }),
  error: JobErrorSchema.optional().openapi({ description: "failed" }),
  reason: z.enum(["worker_shutdown"]).optional().openapi({
    description:
      "queued or cancelled again because its worker shut down cleanly",
  }),
}).openapi("StatusEventData");

/** `step` event data, at most about two a second. */
export const StepEventDataSchema = z.object({
  epoch: z.int(),
  step: z.int(),
  steps: z.int(),
  loss: z.number(),
  phase: PhaseSchema,
  lr: z.number(),
}).openapi("StepEventData");

/** `epoch` event data: one finished epoch. */
export const EpochEventDataSchema = z.object({
  epoch: z.int(),
  phase: PhaseSchema,
  steps: z.int(),
  seconds: z.number(),
  train_loss: z.number(),
  val_loss: z.number().nullable(),
  val_accuracy: z.number().nullable().openapi({
    description:
      "null for autoencoders; token accuracy on target tokens for sequences",
  }),
  val_exact_match: z.number().nullable().optional(),
  val_reconstruction_error: z.number().nullable().optional(),
  val_bleu: z.number().nullable().optional(),
  lr: z.number().openapi({ description: "the lr of the epoch's last step" }),
}).openapi("EpochEventData");

/** One layer's coefficient statistics (the `coefficients` event, GET coefficients). */
export const CoefficientLayerSummarySchema = z.object({
  layer: z.int(),
  batches: z.int(),
  mean: z.number(),
  min: z.number(),
  max: z.number(),
  damping: z.number(),
}).openapi("CoefficientLayerSummary");

/** `coefficients` event data: after FNGD's inversion epoch (and refreshes). */
export const CoefficientsEventDataSchema = z.object({
  layers: z.array(CoefficientLayerSummarySchema),
}).openapi("CoefficientsEventData");

/** `staleness` event data: one inverse-free epoch's probes, per layer. */
export const StalenessEventDataSchema = z.object({
  epoch: z.int(),
  layers: z.array(z.object({
    layer: z.int(),
    probes: z.int(),
    cosine_mean: z.number().nullable(),
    cosine_min: z.number().nullable(),
    diagonal_change_mean: z.number().nullable(),
    checked: z.int(),
    signal_mean: z.number().nullable(),
    signal_max: z.number().nullable(),
    refreshes: z.int(),
  })),
}).openapi("StalenessEventData");

/** `checkpoint` event data: the epoch whose end was saved. */
export const CheckpointEventDataSchema = z.object({ epoch: z.int() })
  .openapi("CheckpointEventData");

/** `lr_range` event data: the range test of `lr: "auto"`, once before epoch 1. */
export const LrRangeEventDataSchema = z.object({
  chosen_lr: z.number(),
  steps: z.int(),
  lrs: z.array(z.number()),
  losses: z.array(z.number()),
  rule: z.string(),
}).openapi("LrRangeEventData");

/** `log` event data: a message, with extra fields of its own (e.g. resumed_epoch). */
export const LogEventDataSchema = z.object({
  level: z.enum(["info", "warn"]),
  message: z.string(),
}).catchall(z.unknown()).openapi("LogEventData");

// Compile-time agreement with the engine: each schema's type is assignable
// from (or to) the engine's, so a renamed or added field breaks the build.
type Out<S extends z.ZodType> = z.output<S>;
type EventData<T extends EngineEvent["type"]> = Extract<
  EngineEvent,
  { type: T }
>["data"];
const _agree: [
  StepEventData extends Out<typeof StepEventDataSchema> ? true : false,
  EpochEventData extends Out<typeof EpochEventDataSchema> ? true : false,
  CoefficientLayerSummary extends Out<typeof CoefficientLayerSummarySchema>
    ? true
    : false,
  StalenessEventData extends Out<typeof StalenessEventDataSchema> ? true
    : false,
  EventData<"lr_range"> extends Out<typeof LrRangeEventDataSchema> ? true
    : false,
  EventData<"checkpoint"> extends Out<typeof CheckpointEventDataSchema> ? true
    : false,
  EventData<"log"> extends Out<typeof LogEventDataSchema> ? true : false,
  Counters extends Out<typeof CountersSchema> ? true : false,
  FinalMetrics extends Out<typeof FinalMetricsSchema> ? true : false,
  TrainResult extends Out<typeof JobResultSchema> ? true : false,
  Phase extends Out<typeof PhaseSchema> ? true : false,
] = [true, true, true, true, true, true, true, true, true, true, true];
