/**
 * Where the engine's progress goes: every event into the job's event log,
 * epochs also into epoch_metrics, and the latest step or epoch into
 * jobs.progress. Every write is fenced by the lease; one that finds the
 * lease gone throws LeaseLostError, which stops the run.
 */
import {
  type JobLease,
  type Queryable,
  recordEpochMetric,
  updateJobProgress,
} from "../db/mod.ts";
import type { EngineEvent } from "../src/engine/mod.ts";
import type { Durable, JobEventLog } from "./job_event_log.ts";
import { assertHeld } from "./lease_lost.ts";

/** Minimum milliseconds between two stored `step` events (at most ~2 per second keeps the log small). */
export const STEP_EVENT_INTERVAL_MS = 500;

/** Persists one job's engine events. */
export class JobReporter {
  #lastStepAt = -Infinity;

  constructor(
    private readonly db: Queryable,
    private readonly lease: JobLease,
    private readonly events: JobEventLog,
    private readonly durable: Durable,
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
      await this.#progress({ ...event.data });
    }
    if (event.type === "epoch") {
      const d = event.data;
      const held = await this.durable(() =>
        recordEpochMetric(this.db, this.lease, {
          epoch: d.epoch,
          phase: d.phase,
          trainLoss: d.train_loss,
          valLoss: d.val_loss,
          valAccuracy: d.val_accuracy,
          valReconstructionError: d.val_reconstruction_error,
          valExactMatch: d.val_exact_match,
          valBleu: d.val_bleu,
          seconds: d.seconds,
          steps: d.steps,
        })
      );
      assertHeld(held, this.lease);
      await this.#progress({
        epoch: d.epoch,
        step: d.steps,
        steps: d.steps,
        loss: d.train_loss,
        phase: d.phase,
      });
    }
    await this.events.append(event.type, { ...event.data });
  };

  async #progress(progress: Record<string, unknown>): Promise<void> {
    const held = await this.durable(() =>
      updateJobProgress(this.db, this.lease, progress)
    );
    assertHeld(held, this.lease);
  }
}
