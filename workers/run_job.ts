/**
 * One claimed job from start to its terminal state: spec, data, resume point,
 * training with the Postgres coefficient store, then complete, fail, cancel,
 * or release it. Every finishing write is guarded by locked_by in db/.
 */
import {
  appendJobEvent,
  completeJob,
  failJob,
  getLatestCheckpoint,
  type JobRow,
  markCancelled,
  type Queryable,
  releaseJob,
  saveCheckpoint,
  saveJobModel,
} from "../db/mod.ts";
import {
  type Checkpoint,
  type CoefficientStore,
  decodeCheckpoint,
  encodeCheckpoint,
  EngineError,
  JobSpec,
  train,
} from "../src/engine/mod.ts";
import { PgCoefficientStore } from "./coefficient_store.ts";
import { startHeartbeat, type StopReason } from "./heartbeat.ts";
import { loadJobDataset } from "./job_dataset.ts";
import { retryWhileDbDown } from "./retry_while_db_down.ts";
import { JobReporter, STEP_EVENT_INTERVAL_MS } from "./job_reporter.ts";

/** What a worker knows that a job run needs. */
export interface JobContext {
  db: Queryable;
  workerId: string;
  leaseSeconds: number;
  /** FNGD_DATA_DIR, where named datasets are looked for. */
  dataDir?: string;
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

/** Runs `job`, which this worker has just claimed, to an outcome. Never throws. */
export async function runJob(
  ctx: JobContext,
  job: JobRow,
): Promise<JobOutcome> {
  const { db, workerId } = ctx;
  const controller = new AbortController();
  let stopReason: StopReason | undefined;
  const stop = (reason: StopReason) => {
    if (stopReason) return;
    stopReason = reason;
    controller.abort(new EngineError("cancelled", `job stopped: ${reason}`));
  };
  const onShutdown = () => stop("shutdown");
  ctx.shutdown.addEventListener("abort", onShutdown);
  if (ctx.shutdown.aborted) stop("shutdown");
  const stopHeartbeat = startHeartbeat({
    db,
    jobId: job.id,
    workerId,
    leaseSeconds: ctx.leaseSeconds,
    onStop: stop,
    log: ctx.log,
  });
  try {
    const result = await trainJob(ctx, job, controller.signal);
    if (stopReason === "lost") return "lost";
    const done = await retryWhileDbDown(
      () => completeJob(db, job.id, workerId, { ...result }),
      { signal: controller.signal, log: ctx.log },
    );
    return done ? "succeeded" : "lost";
  } catch (err) {
    return await settle(ctx, job, stopReason, err);
  } finally {
    stopHeartbeat();
    ctx.shutdown.removeEventListener("abort", onShutdown);
  }
}

async function trainJob(ctx: JobContext, job: JobRow, signal: AbortSignal) {
  const { db } = ctx;
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
  const data = await loadJobDataset(db, job.tenant, spec.dataset, ctx.dataDir);
  const saved = await getLatestCheckpoint(db, job.id);
  let resumeFrom: Checkpoint | undefined;
  if (saved) {
    resumeFrom = decodeCheckpoint(saved.weights, saved.optimizerState);
    await appendJobEvent(db, job.id, "log", {
      level: "info",
      message:
        `resuming after epoch ${resumeFrom.epoch} (attempt ${job.attempts})`,
      resumed_epoch: resumeFrom.epoch,
    });
  }
  const reporter = new JobReporter(db, job.id, ctx.workerId);
  // Every write below is safe to repeat, so a database restart only delays the run.
  const durable = <T>(write: () => Promise<T>) =>
    retryWhileDbDown(write, { signal, log: ctx.log });
  const pgStore = new PgCoefficientStore(db, job.id);
  const store: CoefficientStore = {
    get: (batch, layer) => durable(() => pgStore.get(batch, layer)),
    put: (batch, layer, c, damping) =>
      durable(() => pgStore.put(batch, layer, c, damping)),
    flush: () => durable(() => pgStore.flush()),
  };
  return await train(spec, data, {
    store,
    onEvent: (event) => durable(() => reporter.onEvent(event)),
    onCheckpoint: (cp) => {
      const blobs = encodeCheckpoint(cp);
      return durable(() =>
        saveCheckpoint(
          db,
          job.id,
          cp.epoch,
          blobs.weights,
          blobs.optimizer_state,
        )
      );
    },
    saveModel: (model) =>
      durable(() =>
        saveJobModel(db, job.id, model.modelJson, model.weightData)
      ),
    signal,
    resumeFrom,
    stepEventIntervalMs: STEP_EVENT_INTERVAL_MS,
  });
}

/** Maps a failed or stopped run to its terminal write. */
async function settle(
  ctx: JobContext,
  job: JobRow,
  stopReason: StopReason | undefined,
  err: unknown,
): Promise<JobOutcome> {
  const { db, workerId } = ctx;
  try {
    if (stopReason === "lost") {
      ctx.log(`job ${job.id}: lease lost; another worker owns it now`);
      return "lost";
    }
    if (stopReason === "shutdown") {
      return (await releaseJob(db, job.id, workerId)) ? "released" : "lost";
    }
    if (
      stopReason === "cancel" ||
      (err instanceof EngineError && err.code === "cancelled")
    ) {
      return (await markCancelled(db, job.id, workerId)) ? "cancelled" : "lost";
    }
    const error = err instanceof EngineError
      ? { code: err.code, message: err.message }
      : { code: "internal", message: `${(err as Error)?.message ?? err}` };
    if (!(err instanceof EngineError)) {
      ctx.log(`job ${job.id} failed: ${(err as Error)?.stack ?? err}`);
    }
    await appendJobEvent(db, job.id, "error", error);
    return (await failJob(db, job.id, workerId, error)) ? "failed" : "lost";
  } catch (writeErr) {
    // The database is unreachable: the lease will expire and the job be retried.
    ctx.log(
      `job ${job.id}: could not record its end: ${(writeErr as Error).message}`,
    );
    return "lost";
  }
}
