/**
 * Every table: jobs and their queue state, the event log, epoch metrics, FNGD
 * coefficients, checkpoints, uploaded datasets, trained models and optimizer
 * comparisons. Row types
 * are inferred from here; the SQL in migrations/ is generated from this file
 * by drizzle-kit.
 */
import { sql } from "drizzle-orm";
import {
  type AnyPgColumn,
  bigint,
  check,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { bytea } from "./_bytes.ts";
import type { ComparisonMetric } from "./comparison_metrics.ts";
import { DATASET_FORMATS } from "./dataset_format.ts";
import { JOB_STATUSES } from "./job_status.ts";

/** Postgres enum fed by the one list of job states. */
export const jobStatus = pgEnum("job_status", JOB_STATUSES);
/** Postgres enum fed by the one list of dataset formats. */
export const datasetFormat = pgEnum("dataset_format", DATASET_FORMATS);

const createdAt = () =>
  timestamp("created_at", { withTimezone: true }).notNull().defaultNow();
const jobId = () =>
  uuid("job_id").notNull().references(() => jobs.id, { onDelete: "cascade" });

/** Attempts a job gets unless its creator says otherwise. */
export const DEFAULT_MAX_ATTEMPTS = 3;

/** Training jobs and their queue state (lease, attempts, cancellation). */
export const jobs = pgTable("jobs", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenant: text("tenant").notNull(),
  status: jobStatus("status").notNull().default("queued"),
  spec: jsonb("spec").$type<Record<string, unknown>>().notNull(),
  idempotencyKey: text("idempotency_key"),
  attempts: integer("attempts").notNull().default(0),
  maxAttempts: integer("max_attempts").notNull()
    .default(DEFAULT_MAX_ATTEMPTS),
  lockedBy: text("locked_by"),
  leaseUntil: timestamp("lease_until", { withTimezone: true }),
  heartbeatAt: timestamp("heartbeat_at", { withTimezone: true }),
  cancelRequestedAt: timestamp("cancel_requested_at", { withTimezone: true }),
  progress: jsonb("progress").$type<Record<string, unknown>>(),
  error: jsonb("error").$type<{ code: string; message: string }>(),
  /** The engine's TrainResult once succeeded (also in the terminal status event). */
  result: jsonb("result").$type<Record<string, unknown>>(),
  /** Highest job_events.seq handed out; bumped in the same statement as the insert. */
  lastEventSeq: integer("last_event_seq").notNull().default(0),
  /** `{url, events}` of the job's webhook, if it has one. */
  webhook: jsonb("webhook").$type<{ url: string; events: string[] }>(),
  /** The webhook's signing secret (`whsec_...`), shown once at creation. */
  webhookSecret: text("webhook_secret"),
  /** The comparison that created this job, if any. */
  comparisonId: uuid("comparison_id").references(
    (): AnyPgColumn => comparisons.id,
    { onDelete: "cascade" },
  ),
  createdAt: createdAt(),
  startedAt: timestamp("started_at", { withTimezone: true }),
  finishedAt: timestamp("finished_at", { withTimezone: true }),
}, (t) => [
  uniqueIndex("jobs_tenant_idempotency_key_idx").on(
    t.tenant,
    t.idempotencyKey,
  ),
  // Listing is per tenant, newest first, keyset on (created_at, id).
  index("jobs_tenant_created_idx").on(t.tenant, t.createdAt, t.id),
  // Serves claimNextJob: only live jobs, oldest first. Terminal jobs pile up
  // forever and never qualify, so keeping them out keeps the index (and the
  // SKIP LOCKED scan) as small as the live queue.
  index("jobs_claimable_idx").on(t.createdAt).where(
    sql`${t.status} in ('queued', 'running', 'cancelling')`,
  ),
  // A comparison reads its jobs on every GET and SSE poll; most jobs belong
  // to none, so the partial index holds only those that do.
  index("jobs_comparison_idx").on(t.comparisonId).where(
    sql`${t.comparisonId} is not null`,
  ),
]);

/**
 * One spec trained with several optimizers and seeds; its jobs point back
 * with jobs.comparison_id. The columns hold the validated request (defaults
 * filled in), which an Idempotency-Key retry is compared against.
 */
export const comparisons = pgTable("comparisons", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenant: text("tenant").notNull(),
  /** The shared job spec, without optimizer and seed. */
  spec: jsonb("spec").$type<Record<string, unknown>>().notNull(),
  optimizers: jsonb("optimizers").$type<Record<string, unknown>[]>()
    .notNull(),
  seeds: jsonb("seeds").$type<number[]>().notNull(),
  target: jsonb("target").$type<{ metric: ComparisonMetric; value: number }>(),
  idempotencyKey: text("idempotency_key"),
  createdAt: createdAt(),
}, (t) => [
  uniqueIndex("comparisons_tenant_idempotency_key_idx").on(
    t.tenant,
    t.idempotencyKey,
  ),
]);

/** The append-only event log of each job; seq is gap-free per job. */
export const jobEvents = pgTable("job_events", {
  jobId: jobId(),
  seq: integer("seq").notNull(),
  type: text("type").notNull(),
  data: jsonb("data").$type<Record<string, unknown>>().notNull(),
  createdAt: createdAt(),
}, (t) => [primaryKey({ columns: [t.jobId, t.seq] })]);

/** One row per finished epoch. */
export const epochMetrics = pgTable("epoch_metrics", {
  jobId: jobId(),
  epoch: integer("epoch").notNull(),
  phase: text("phase").notNull(),
  trainLoss: doublePrecision("train_loss").notNull(),
  valLoss: doublePrecision("val_loss"),
  valAccuracy: doublePrecision("val_accuracy"),
  /** Autoencoders only. */
  valReconstructionError: doublePrecision("val_reconstruction_error"),
  /** Sequences only. */
  valExactMatch: doublePrecision("val_exact_match"),
  /** Sequences with a vocabulary only. */
  valBleu: doublePrecision("val_bleu"),
  seconds: doublePrecision("seconds").notNull(),
  steps: integer("steps").notNull(),
  createdAt: createdAt(),
}, (t) => [primaryKey({ columns: [t.jobId, t.epoch] })]);

/**
 * FNGD's per-(batch, layer) coefficients, float32 little-endian, one row per
 * epoch that solved them: epoch one's inversion, then any refreshes, kept as
 * a history.
 */
export const fngdCoefficients = pgTable("fngd_coefficients", {
  jobId: jobId(),
  batchIndex: integer("batch_index").notNull(),
  layerIndex: integer("layer_index").notNull(),
  /** The epoch whose step solved them. */
  epoch: integer("epoch").notNull().default(1),
  coefficients: bytea("coefficients").notNull(),
  /** Per-sample Gram-diagonal proxy when solved, float32; null on old rows. */
  diagonal: bytea("diagonal"),
  /** The lambda the solve used: alpha (the API's `damping`) scaled by the Gram norm. */
  lambda: doublePrecision("lambda").notNull(),
  createdAt: createdAt(),
}, (t) => [
  primaryKey({
    columns: [t.jobId, t.batchIndex, t.layerIndex, t.epoch],
  }),
]);

/** Length of a blob in bytes (blobs may pass 2 GiB). */
const blobSize = (name: string) => bigint(name, { mode: "number" });

/**
 * Epoch-end training state; the latest one is where a reclaimed job resumes.
 * The two payloads live in the blob store (db/blob_store.ts) under the
 * `*_sha256` names; rows written before the blob store hold them in the
 * bytea columns instead, which stay readable.
 */
export const checkpoints = pgTable("checkpoints", {
  jobId: jobId(),
  epoch: integer("epoch").notNull(),
  /** Legacy rows only. */
  weights: bytea("weights"),
  /** Legacy rows only. */
  optimizerState: bytea("optimizer_state"),
  weightsSha256: text("weights_sha256"),
  weightsSize: blobSize("weights_size"),
  optimizerSha256: text("optimizer_sha256"),
  optimizerSize: blobSize("optimizer_size"),
  /** Optimizer steps taken up to this checkpoint; null on older rows. */
  step: integer("step"),
  /**
   * The model at this epoch in TF.js layers format, exported by the worker
   * (the API cannot build the topology without TF.js): model.json here, its
   * weights.bin the blob `model_weights_sha256`. Null on older rows.
   */
  modelJson: jsonb("model_json").$type<Record<string, unknown>>(),
  modelWeightsSha256: text("model_weights_sha256"),
  modelWeightsSize: blobSize("model_weights_size"),
  createdAt: createdAt(),
}, (t) => [
  primaryKey({ columns: [t.jobId, t.epoch] }),
  check(
    "checkpoints_payload_check",
    sql`(${t.weightsSha256} is not null and ${t.optimizerSha256} is not null
      and ${t.weights} is null and ${t.optimizerState} is null)
      or (${t.weightsSha256} is null and ${t.optimizerSha256} is null
      and ${t.weights} is not null and ${t.optimizerState} is not null)`,
  ),
]);

/**
 * The trained model of a succeeded job, in TF.js layers format (model.json +
 * weights.bin). weights.bin is the blob `weights_sha256`; legacy rows hold
 * it in `weight_data`.
 */
export const jobModels = pgTable("job_models", {
  jobId: uuid("job_id").primaryKey()
    .references(() => jobs.id, { onDelete: "cascade" }),
  modelJson: jsonb("model_json").$type<Record<string, unknown>>().notNull(),
  /** Legacy rows only. */
  weightData: bytea("weight_data"),
  weightsSha256: text("weights_sha256"),
  weightsSize: blobSize("weights_size"),
  createdAt: createdAt(),
}, (t) => [
  check(
    "job_models_payload_check",
    sql`(${t.weightsSha256} is null) <> (${t.weightData} is null)`,
  ),
]);

/**
 * Uploaded IDX, CSV or parallel-text training data. The stored content is
 * the blob `blob_sha256` (also `sha256`, with `bytes` its length); legacy
 * rows hold it in `content`.
 */
export const datasets = pgTable("datasets", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenant: text("tenant").notNull(),
  name: text("name").notNull(),
  format: datasetFormat("format").notNull(),
  shape: jsonb("shape").$type<number[]>().notNull(),
  bytes: integer("bytes").notNull(),
  sha256: text("sha256").notNull(),
  /** Legacy rows only. */
  content: bytea("content"),
  blobSha256: text("blob_sha256"),
  createdAt: createdAt(),
}, (t) => [
  index("datasets_tenant_created_idx").on(t.tenant, t.createdAt),
  check(
    "datasets_content_check",
    sql`(${t.blobSha256} is null) <> (${t.content} is null)`,
  ),
]);

/**
 * Every blob in the blob store (db/blob_store.ts), by content hash, with how
 * many references hold it: each row slot that names it (a dataset's content,
 * a checkpoint's weights or optimizer state, a model's weights) plus each
 * writer about to write such a row. A blob whose count falls to 0 is
 * collected; `deleting_since` marks one being deleted, which writers wait
 * out. Keeping the count in this one row lets single statements decide
 * both, with no transaction (db/blob_refs.ts).
 */
export const blobs = pgTable("blobs", {
  sha256: text("sha256").primaryKey(),
  size: blobSize("size").notNull(),
  refs: integer("refs").notNull().default(0),
  deletingSince: timestamp("deleting_since", { withTimezone: true }),
  createdAt: createdAt(),
}, (t) => [check("blobs_refs_check", sql`${t.refs} >= 0`)]);

/**
 * One webhook delivery per (job, event): written by a trigger on job_events
 * (see the migration) in the statement that appends the event, so no
 * acknowledged event misses its delivery; sent and retried by
 * db/webhook_deliveries.ts's claimers.
 */
export const webhookDeliveries = pgTable("webhook_deliveries", {
  id: uuid("id").primaryKey().defaultRandom(),
  jobId: jobId(),
  eventSeq: integer("event_seq").notNull(),
  /** The webhook event name: a status (`succeeded`, ...) or `epoch`. */
  event: text("event").notNull(),
  /** The JSON body sent, the same on every attempt. */
  payload: jsonb("payload").$type<Record<string, unknown>>().notNull(),
  attempts: integer("attempts").notNull().default(0),
  statusCode: integer("status_code"),
  lastError: text("last_error"),
  /** The start of the last response's body, at most a few hundred chars. */
  responseExcerpt: text("response_excerpt"),
  nextAttemptAt: timestamp("next_attempt_at", { withTimezone: true })
    .notNull().defaultNow(),
  deliveredAt: timestamp("delivered_at", { withTimezone: true }),
  /** Set when the last attempt failed: nothing more is tried. */
  failedAt: timestamp("failed_at", { withTimezone: true }),
  createdAt: createdAt(),
}, (t) => [
  uniqueIndex("webhook_deliveries_job_seq_idx").on(t.jobId, t.eventSeq),
  // Serves the claim: only pending deliveries, soonest first.
  index("webhook_deliveries_due_idx").on(t.nextAttemptAt).where(
    sql`${t.deliveredAt} is null and ${t.failedAt} is null`,
  ),
]);

/** A jobs row. */
export type JobRow = typeof jobs.$inferSelect;
/** A job_events row. */
export type EventRow = typeof jobEvents.$inferSelect;
/** An epoch_metrics row. */
export type EpochMetricRow = typeof epochMetrics.$inferSelect;
/** A fngd_coefficients row. */
export type CoefficientRow = typeof fngdCoefficients.$inferSelect;
/** A checkpoints row. */
export type CheckpointRow = typeof checkpoints.$inferSelect;
/** A job_models row. */
export type JobModelRow = typeof jobModels.$inferSelect;
/** A datasets row, content included. */
export type DatasetRow = typeof datasets.$inferSelect;
/** A blobs row. */
export type BlobRow = typeof blobs.$inferSelect;
/** A webhook_deliveries row. */
export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;
/** A comparisons row. */
export type ComparisonRow = typeof comparisons.$inferSelect;
