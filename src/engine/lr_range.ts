/**
 * The learning-rate range test behind `lr: "auto"` (Smith 2017, fastai's
 * lr_find): train for a few hundred steps while the learning rate rises
 * geometrically, watch the smoothed loss, and pick a rate below the point
 * where it stops falling. The caller owns the weights and the optimizer and
 * throws both away afterwards; this file only sweeps and chooses.
 */
import { type OptimizerName, OptimizerSpec } from "./spec.ts";
import type { EngineEvent } from "./types.ts";

/** What the `lr_range` event reports. */
export type LrRangeData = Extract<EngineEvent, { type: "lr_range" }>["data"];

/**
 * The sweep spans 1e-5 to 100 times the optimizer's default lr. Relative to
 * the default, because the optimizers' scales differ (adamw's 0.001 against
 * sgd's 0.1); seven decades reach from "nothing moves" to divergence on any
 * net we train, and the top stays within every optimizer's lr bound.
 */
export const SWEEP_LOW = 1e-5;
export const SWEEP_HIGH = 100;

/**
 * Exponential smoothing of the loss. fastai's 0.98 lags ~50 steps, which on
 * a 100-step sweep of seven decades moves the minimum by decades; 0.9 lags
 * ~10 steps (under a decade) and still damps single-batch noise.
 */
const SMOOTHING = 0.9;

/** Stop once the smoothed loss exceeds this multiple of its minimum. */
const BLOW_UP = 4;

/** The event carries at most this many points of the curve. */
const MAX_POINTS = 100;

/**
 * The choice: a tenth of the rate at the minimum smoothed loss. The minimum
 * is where the loss has just stopped improving, so too high to train at; a
 * decade below it is still fast. It is robust on noisy curves, where the
 * steepest-descent point (a derivative of a noisy curve) jumps around.
 */
export const RULE = "lr at the minimum smoothed loss / 10";

/**
 * Steps of the sweep: one epoch's worth of batches, but at least 100 (about
 * 14 per decade, fastai's default count) and at most 200, so the test never
 * costs more than 200 training steps.
 */
export function rangeTestSteps(batches: number): number {
  return Math.min(200, Math.max(100, batches));
}

/** One range test. */
export interface RangeTest {
  /** The optimizer's default lr; the sweep is relative to it. */
  reference: number;
  /** Planned steps (see {@link rangeTestSteps}). */
  steps: number;
  /**
   * Takes the `index`-th step (0-based) at `lr` and returns its batch loss,
   * NaN or infinite when training blew up.
   */
  step: (lr: number, index: number) => Promise<number>;
}

/** The `index`-th of `steps` learning rates of the sweep. */
export function sweepRate(
  reference: number,
  index: number,
  steps: number,
): number {
  const low = reference * SWEEP_LOW;
  return low * (SWEEP_HIGH / SWEEP_LOW) ** (index / Math.max(1, steps - 1));
}

/**
 * Runs the sweep and chooses; stops early when the loss goes non-finite or
 * its smoothed value exceeds {@link BLOW_UP} times the minimum.
 */
export async function runRangeTest(test: RangeTest): Promise<LrRangeData> {
  const lrs: number[] = [];
  const losses: number[] = [];
  let average = 0;
  let best = Infinity;
  let bestLr = test.reference * SWEEP_LOW;
  let taken = 0;
  for (let i = 0; i < test.steps; i++) {
    const lr = sweepRate(test.reference, i, test.steps);
    const loss = await test.step(lr, i);
    taken += 1;
    if (!Number.isFinite(loss)) break;
    average = SMOOTHING * average + (1 - SMOOTHING) * loss;
    // Bias correction: the average starts at 0, not at the first loss.
    const smoothed = average / (1 - SMOOTHING ** (i + 1));
    if (!Number.isFinite(smoothed)) break;
    lrs.push(lr);
    losses.push(smoothed);
    if (smoothed < best) {
      best = smoothed;
      bestLr = lr;
    }
    if (smoothed > BLOW_UP * best) break;
  }
  // Never below the sweep's start: a curve that only rises (or none at all)
  // says nothing finer than "the smallest rate tried".
  const chosen = Math.max(test.reference * SWEEP_LOW, bestLr / 10);
  const kept = subsample(lrs.length, MAX_POINTS);
  return {
    chosen_lr: chosen,
    steps: taken,
    lrs: kept.map((k) => lrs[k]),
    losses: kept.map((k) => losses[k]),
    rule: RULE,
  };
}

/** At most `max` indices into `n` points, evenly spaced, first and last kept. */
function subsample(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, k) => k);
  return Array.from(
    { length: max },
    (_, k) => Math.round(k * (n - 1) / (max - 1)),
  );
}

/** The lr an optimizer gets when the spec names none: the sweep's reference. */
export function defaultLearningRate(name: OptimizerName): number {
  const { lr } = OptimizerSpec.parse({ name });
  if (typeof lr !== "number") {
    throw new Error(`optimizer ${name} has no numeric default lr`);
  }
  return lr;
}
