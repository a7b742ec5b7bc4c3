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

/** Epoch-end training state; the latest one is where a reclaimed job resumes. */
export const checkpoints = pgTable("checkpoints", {
  jobId: jobId(),
  epoch: integer("epoch").notNull(),
  weights: bytea("weights").notNull(),
  optimizerState: bytea("optimizer_state").notNull(),
  createdAt: createdAt(),
}, (t) => [primaryKey({ columns: [t.jobId, t.epoch] })]);

/** The trained model of a succeeded job, in TF.js layers format (model.json + weights.bin). */
export const jobModels = pgTable("job_models", {
  jobId: uuid("job_id").primaryKey()
    .references(() => jobs.id, { onDelete: "cascade" }),
  modelJson: jsonb("model_json").$type<Record<string, unknown>>().notNull(),
  weightData: bytea("weight_data").notNull(),
  createdAt: createdAt(),
});

/** Uploaded IDX or CSV training data. */
export const datasets = pgTable("datasets", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenant: text("tenant").notNull(),
  name: text("name").notNull(),
  format: datasetFormat("format").notNull(),
  shape: jsonb("shape").$type<number[]>().notNull(),
  bytes: integer("bytes").notNull(),
  sha256: text("sha256").notNull(),
  content: bytea("content").notNull(),
  createdAt: createdAt(),
}, (t) => [index("datasets_tenant_created_idx").on(t.tenant, t.createdAt)]);

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
/** A comparisons row. */
export type ComparisonRow = typeof comparisons.$inferSelect;
