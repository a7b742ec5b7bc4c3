/**
 * One claimed job from start to its terminal state: spec, data, resume point,
 * training with the Postgres coefficient store, then complete, fail, cancel,
 * or release it. Every write is fenced by the lease (worker id and attempt)
 * in db/, and one that finds the lease gone stops the run: from then on the
 * worker writes nothing for this job.
 */
import {
  type BlobStore,
  completeJob,
  failJob,
  type JobLease,
  type JobRow,
  loadLatestCheckpoint,
  markCancelled,
  type Queryable,
  releaseJob,
  saveCheckpoint,
  saveJobModel,
} from "../db/mod.ts";
import {
  checkJobFits,
  type Checkpoint,
  type CoefficientStore,
  datasetInfoOf,
  decodeCheckpoint,
  encodeCheckpoint,
  EngineError,
  JobSpec,
  train,
} from "../src/engine/mod.ts";
import { PgCoefficientStore } from "./coefficient_store.ts";
import type { HeartbeatThread, StopReason } from "./heartbeat.ts";
import { loadJobDataset } from "./job_dataset.ts";
import { type Durable, JobEventLog } from "./job_event_log.ts";
import { assertHeld, LeaseLostError } from "./lease_lost.ts";
import { retryWhileDbDown } from "./retry_while_db_down.ts";
import { JobReporter, STEP_EVENT_INTERVAL_MS } from "./job_reporter.ts";

/** What a worker knows that a job run needs. */
export interface JobContext {
  db: Queryable;
  /** Where datasets are read from and checkpoints and models written to. */
  blobs: BlobStore;
  workerId: string;
  leaseSeconds: number;
  /** Renews the lease from its own thread. */
  heartbeats: HeartbeatThread;
  /** FNGD_DATA_DIR, where named datasets are looked for. */
  dataDir?: string;
  /** Jobs whose memory estimate exceeds this fail `too_large` (MAX_JOB_BYTES). */
  maxJobBytes: number;
  /** Epoch checkpoints kept per job (CHECKPOINTS_KEPT); default 3. */
  checkpointsKept?: number;
  /** Threads per run (FNGD_THREADS); default 1. */
  threads?: number;
  /** Aborts when the worker shuts down; the job is then released, not failed. */
  shutdown: AbortSignal;
  log: (message: string) => void;
}

/** How the run ended, for logs and tests. */
export type JobOutcome =
  | "succeeded"
  | "failed"
  | "cancelled"
  | "released"
  | "lost";

/** How long a terminal write waits out an outage; the lease decides after. */
const SETTLE_RETRY_MS = 60_000;
/** A release must finish inside the supervisor's SIGTERM grace (15 s). */
const RELEASE_RETRY_MS = 10_000;

/** Runs `job`, which this worker has just claimed, to an outcome. Never throws. */
export async function runJob(
  ctx: JobContext,
  job: JobRow,
): Promise<JobOutcome> {
  const { db } = ctx;
  const lease: JobLease = {
    jobId: job.id,
    workerId: ctx.workerId,
    attempt: job.attempts,
  };
  const controller = new AbortController();
  // Training writes stop retrying once the run is stopping.
  const durable: Durable = (write) =>
    retryWhileDbDown(write, { signal: controller.signal, log: ctx.log });
  const events = new JobEventLog(db, lease, job.lastEventSeq, durable);
  let stopReason: StopReason | undefined;
  const stop = (reason: StopReason) => {
    if (stopReason === "lost" || stopReason === reason) return;
    // A lost lease overrides a cancel or shutdown in progress: nothing may
    // be written any more, not even the terminal state.
    if (stopReason && reason !== "lost") return;
    stopReason = reason;
    controller.abort(new EngineError("cancelled", `job stopped: ${reason}`));
  };
  const onShutdown = () => stop("shutdown");
  ctx.shutdown.addEventListener("abort", onShutdown);
  if (ctx.shutdown.aborted) stop("shutdown");
  const unwatch = ctx.heartbeats.watch({
    lease,
    leaseSeconds: ctx.leaseSeconds,
    onStop: (reason) => {
      if (reason === "cancel") {
        // The worker owns the log while it holds the lease, so it records
        // the request; failures surface in the terminal write instead.
        events.append("status", { status: "cancelling" }).catch(() => {});
      }
      stop(reason);
    },
  });
  try {
    const result = await trainJob(ctx, job, lease, events, durable, controller);
    if (stopReason) {
      throw new EngineError("cancelled", `job stopped: ${stopReason}`);
    }
    await events.idle();
    const done = await retryWhileDbDown(
      () => completeJob(db, lease, { ...result }),
      { maxMs: SETTLE_RETRY_MS, log: ctx.log },
    );
    return done ? "succeeded" : "lost";
  } catch (err) {
    if (err instanceof LeaseLostError) stop("lost");
    return await settle(ctx, lease, events, stopReason, err);
  } finally {
    unwatch();
    ctx.shutdown.removeEventListener("abort", onShutdown);
  }
}

async function trainJob(
  ctx: JobContext,
  job: JobRow,
  lease: JobLease,
  events: JobEventLog,
  durable: Durable,
  controller: AbortController,
) {
  const { db, blobs } = ctx;
  const parsed = JobSpec.safeParse(job.spec);
  if (!parsed.success) {
    throw new EngineError(
      "invalid_spec",
      `stored job spec is invalid: ${
        parsed.error.issues.map((i) => i.message).join("; ")
      }`,
    );
  }
  const spec = parsed.data;
  // The API admitted this job, but maybe under another limit or another
  // version: refuse what would not fit before allocating anything (data
  // generation allocates), so the job fails `too_large` instead of taking
  // the process down with it and cycling through its attempts.
  const uploaded = "id" in spec.dataset;
  if (!uploaded) checkJobFits(spec, ctx.maxJobBytes);
  const data = await durable(() =>
    loadJobDataset(db, blobs, job.tenant, spec.dataset, ctx.dataDir)
  );
  if (uploaded) checkJobFits(spec, ctx.maxJobBytes, datasetInfoOf(data));
  const saved = await durable(() => loadLatestCheckpoint(db, blobs, job.id));
  let resumeFrom: Checkpoint | undefined;
  if (saved) {
    resumeFrom = decodeCheckpoint(saved.weights, saved.optimizerState);
    await events.append("log", {
      level: "info",
      message:
        `resuming after epoch ${resumeFrom.epoch} (attempt ${job.attempts})`,
      resumed_epoch: resumeFrom.epoch,
    });
  }
  const reporter = new JobReporter(db, lease, events, durable);
  const pgStore = new PgCoefficientStore(db, lease);
  let coefficientMark = { rows: 0, ms: 0 };
  // Every write below is safe to repeat, so a database restart only delays the run.
  const store: CoefficientStore = {
    get: (batch, layer, epoch) =>
      durable(() => pgStore.get(batch, layer, epoch)),
    put: (batch, layer, entry, lambda) =>
      durable(() => pgStore.put(batch, layer, entry, lambda)),
    flush: () => durable(() => pgStore.flush()),
  };
  return await train(spec, data, {
    store,
    threads: ctx.threads ?? 1,
    onEvent: reporter.onEvent,
    onCheckpoint: async (cp, exportModel) => {
      const started = performance.now();
      const payload = encodeCheckpoint(cp);
      // Exported here, where the model lives, so the API serves each kept
      // epoch's model without building one.
      const exportStarted = performance.now();
      const model = await exportModel().catch((err) => {
        if (!(err instanceof EngineError)) throw err;
        ctx.log(`job ${job.id} epoch ${cp.epoch}: no model: ${err.message}`);
        return undefined;
      });
      const exportMs = performance.now() - exportStarted;
      const held = await durable(() =>
        saveCheckpoint(
          db,
          blobs,
          lease,
          cp.epoch,
          payload.weights,
          payload.optimizer_state,
          { step: cp.counters.steps, model, keep: ctx.checkpointsKept ?? 3 },
        )
      );
      assertHeld(held, lease);
      // The engine flushed the coefficients just before: report this
      // epoch's share of their writes beside the checkpoint's cost.
      const written = pgStore.written - coefficientMark.rows;
      const writeMs = pgStore.writeMs - coefficientMark.ms;
      coefficientMark = { rows: pgStore.written, ms: pgStore.writeMs };
      const bytes = payload.weights.length + payload.optimizer_state.length;
      ctx.log(
        `job ${job.id} epoch ${cp.epoch}: coefficients ${written} rows in ${
          writeMs.toFixed(1)
        } ms; checkpoint ${bytes} bytes in ${
          (performance.now() - started).toFixed(1)
        } ms (model export ${exportMs.toFixed(1)} ms, ${
          model?.weightData.length ?? 0
        } bytes)`,
      );
    },
    saveModel: async (model) => {
      const held = await durable(() =>
        saveJobModel(db, blobs, lease, model.modelJson, model.weightData)
      );
      assertHeld(held, lease);
    },
    signal: controller.signal,
    resumeFrom,
    stepEventIntervalMs: STEP_EVENT_INTERVAL_MS,
  });
}

/** Maps a failed or stopped run to its terminal write, retried through outages. */
async function settle(
  ctx: JobContext,
  lease: JobLease,
  events: JobEventLog,
  stopReason: StopReason | undefined,
  err: unknown,
): Promise<JobOutcome> {
  const { db } = ctx;
  if (stopReason === "lost") {
    ctx.log(`job ${lease.jobId}: lease lost; another worker owns it now`);
    return "lost";
  }
  // Terminal seqs follow the log's last one: let in-flight appends land.
  await events.idle();
  const terminal = <T>(write: () => Promise<T>, maxMs = SETTLE_RETRY_MS) =>
    retryWhileDbDown(write, { maxMs, log: ctx.log });
  try {
    if (stopReason === "shutdown") {
      const released = await terminal(
        () => releaseJob(db, lease),
        RELEASE_RETRY_MS,
      );
      return released ? "released" : "lost";
    }
    if (
      stopReason === "cancel" ||
      (err instanceof EngineError && err.code === "cancelled")
    ) {
      return (await terminal(() => markCancelled(db, lease)))
        ? "cancelled"
        : "lost";
    }
    const error = err instanceof EngineError
      ? { code: err.code, message: err.message }
      : { code: "internal", message: `${(err as Error)?.message ?? err}` };
    if (!(err instanceof EngineError)) {
      ctx.log(`job ${lease.jobId} failed: ${(err as Error)?.stack ?? err}`);
    }
    return (await terminal(() => failJob(db, lease, error)))
      ? "failed"
      : "lost";
  } catch (writeErr) {
    // Still unreachable: the lease will expire and the job be retried.
    ctx.log(
      `job ${lease.jobId}: could not record its end: ${
        (writeErr as Error).message
      }`,
    );
    return "lost";
  }
}
