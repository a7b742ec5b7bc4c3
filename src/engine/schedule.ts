/**
 * Learning-rate schedules: the learning rate of a step is a pure function of
 * its global step, never state, so a run resumed from a checkpoint takes
 * exactly the learning rates the uninterrupted run would have.
 */
import type { ScheduleSpec } from "./spec.ts";

/** How the run's steps are laid out: batches per epoch and epochs in all. */
export interface StepLayout {
  stepsPerEpoch: number;
  epochs: number;
}

/**
 * The learning rate of global step `step` (0-based over the whole run:
 * `(epoch - 1) * stepsPerEpoch + stepInEpoch`).
 * - `constant`: `lr`.
 * - `cosine`: `lr * (step + 1) / W` for the first `W = warmup_epochs *
 *   stepsPerEpoch` steps (the last warmup step reaches `lr`), then
 *   `lr * (1 + cos(pi * (step - W) / (T - W))) / 2` over the remaining steps
 *   of `T = epochs * stepsPerEpoch`, which would reach 0 at step T.
 * - `step`: `lr * gamma^k` in epoch e (1-based), where k counts the
 *   milestones below e: milestones [30, 60] decay after epochs 30 and 60.
 */
export function learningRateAt(
  schedule: ScheduleSpec,
  lr: number,
  step: number,
  layout: StepLayout,
): number {
  switch (schedule.name) {
    case "constant":
      return lr;
    case "cosine": {
      const warmup = schedule.warmup_epochs * layout.stepsPerEpoch;
      if (step < warmup) return lr * (step + 1) / warmup;
      const total = layout.epochs * layout.stepsPerEpoch;
      return lr * 0.5 *
        (1 + Math.cos(Math.PI * (step - warmup) / (total - warmup)));
    }
    case "step": {
      const epoch = Math.floor(step / layout.stepsPerEpoch) + 1;
      const passed = schedule.milestones.filter((m) => m < epoch).length;
      return lr * schedule.gamma ** passed;
    }
  }
}
