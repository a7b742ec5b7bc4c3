/**
 * Where the engine's progress goes: every event into job_events, epochs also
 * into epoch_metrics, and the latest step or epoch into jobs.progress. Writes
 * are chained so they land in the order the engine emitted them.
 */
import {
  appendJobEvent,
  type Queryable,
  recordEpochMetric,
  updateJobProgress,
} from "../db/mod.ts";
import type { EngineEvent } from "../src/engine/mod.ts";

/** Minimum milliseconds between two stored `step` events (the issue asks for at most ~2/s). */
export const STEP_EVENT_INTERVAL_MS = 500;

/** Persists one job's engine events. */
export class JobReporter {
  #lastStepAt = -Infinity;

  constructor(
    private readonly db: Queryable,
    private readonly jobId: string,
    private readonly workerId: string,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The engine's EventSink. */
  readonly onEvent = async (event: EngineEvent): Promise<void> => {
    // The terminal status event carries the result; no separate copy.
    if (event.type === "result") return;
    if (event.type === "step") {
      const t = this.now();
      if (t - this.#lastStepAt < STEP_EVENT_INTERVAL_MS) return;
      this.#lastStepAt = t;
      await updateJobProgress(this.db, this.jobId, this.workerId, {
        ...event.data,
      });
    }
    if (event.type === "epoch") {
      const d = event.data;
      await recordEpochMetric(this.db, this.jobId, {
        epoch: d.epoch,
        phase: d.phase,
        trainLoss: d.train_loss,
        valLoss: d.val_loss,
        valAccuracy: d.val_accuracy,
        seconds: d.seconds,
        steps: d.steps,
      });
      await updateJobProgress(this.db, this.jobId, this.workerId, {
        epoch: d.epoch,
        step: d.steps,
        steps: d.steps,
        loss: d.train_loss,
        phase: d.phase,
      });
    }
    await appendJobEvent(this.db, this.jobId, event.type, { ...event.data });
  };
}
