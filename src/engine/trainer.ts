/** The training loop: epochs, batches, phases, events, checkpoints. */
import type {
  Checkpoint,
  CoefficientStore,
  Dataset,
  EventSink,
  TrainResult,
} from "./types.ts";
import type { JobSpec } from "./spec.ts";

/** How a caller plugs into one training run. */
export interface TrainOptions {
  /** Where FNGD coefficients live; default in memory. */
  store?: CoefficientStore;
  /** Receives step, epoch, coefficients, checkpoint, log and result events. */
  onEvent?: EventSink;
  /** Persists a checkpoint; awaited at each epoch end before the `checkpoint` event. */
  onCheckpoint?: (checkpoint: Checkpoint) => Promise<void>;
  /** Checked at every step; training stops within one step with `cancelled`. */
  signal?: AbortSignal;
  /** Continue after this checkpoint's epoch. */
  resumeFrom?: Checkpoint;
  /** Minimum milliseconds between `step` events (default 500). */
  stepEventIntervalMs?: number;
}

/**
 * Trains `spec.model` on `data` with `spec.optimizer`.
 * @throws {EngineError} on invalid specs, divergence or cancellation.
 */
export function train(
  _spec: JobSpec,
  _data: Dataset,
  _options: TrainOptions = {},
): Promise<TrainResult> {
  throw new Error("not implemented yet");
}
