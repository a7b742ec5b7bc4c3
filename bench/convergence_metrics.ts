/**
 * The pure computations of the convergence suite, on per-epoch validation
 * points: time to a target, the best metric within a wall-clock budget,
 * seed-mean curves and mean ± spread. No training, no I/O.
 */

/** Whether a larger metric is better (accuracy, BLEU) or a smaller one (reconstruction error). */
export type Direction = "higher" | "lower";

/** One epoch of one run: its training seconds and its validation metric (null when not measured). */
export interface EpochPoint {
  epoch: number;
  seconds: number;
  value: number | null;
}

/** Whether `value` is a usable metric: diverged runs report NaN. */
export function finite(value: number | null | undefined): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

/** Whether `a` is strictly better than `b`; any finite value beats a missing one. */
export function better(
  a: number | null | undefined,
  b: number | null | undefined,
  dir: Direction,
): boolean {
  if (!finite(a)) return false;
  if (!finite(b)) return true;
  return dir === "higher" ? a > b : a < b;
}

/** Whether `value` reaches `target` (at or past it, in the metric's direction). */
export function meets(
  value: number | null | undefined,
  target: number,
  dir: Direction,
): boolean {
  if (!finite(value)) return false;
  return dir === "higher" ? value >= target : value <= target;
}

/** Training seconds summed over all epochs of a run. */
export function totalSeconds(points: readonly EpochPoint[]): number {
  return points.reduce((a, p) => a + p.seconds, 0);
}

/**
 * The first epoch whose validation metric reaches `target`, and the training
 * seconds summed up to and including it; undefined when no epoch does.
 */
export function timeToTarget(
  points: readonly EpochPoint[],
  target: number,
  dir: Direction,
): { epochs: number; seconds: number } | undefined {
  let seconds = 0;
  for (const p of points) {
    seconds += p.seconds;
    if (meets(p.value, target, dir)) return { epochs: p.epoch, seconds };
  }
  return undefined;
}

/** Time to target over seeds: the mean over the seeds that reached it, and how many did. */
export interface TargetSummary {
  reached: number;
  of: number;
  /** Mean epochs to target over the seeds that reached it; undefined when none did. */
  epochs?: number;
  seconds?: number;
}

export function summarizeTimeToTarget(
  runs: readonly (readonly EpochPoint[])[],
  target: number,
  dir: Direction,
): TargetSummary {
  const hits = runs.map((r) => timeToTarget(r, target, dir)).filter((h) =>
    h !== undefined
  );
  if (!hits.length) return { reached: 0, of: runs.length };
  return {
    reached: hits.length,
    of: runs.length,
    epochs: mean(hits.map((h) => h.epochs)),
    seconds: mean(hits.map((h) => h.seconds)),
  };
}

/**
 * The equal-time budget of a task: the smallest mean (over seeds) total
 * training time among its optimizers, so every optimizer can be compared
 * within what the fastest one used. `byOptimizer[i]` is optimizer i's runs.
 */
export function equalTimeBudget(
  byOptimizer: readonly (readonly (readonly EpochPoint[])[])[],
): number {
  const totals = byOptimizer.filter((runs) => runs.length).map((runs) =>
    mean(runs.map(totalSeconds))
  );
  return totals.length ? Math.min(...totals) : NaN;
}

/**
 * The best validation metric among the epochs that ended within `budget`
 * training seconds; undefined when the first epoch already took longer (or
 * no epoch within it has a metric).
 */
export function bestWithin(
  points: readonly EpochPoint[],
  budget: number,
  dir: Direction,
): number | undefined {
  let seconds = 0;
  let best: number | undefined;
  for (const p of points) {
    seconds += p.seconds;
    if (seconds > budget) break;
    if (better(p.value, best, dir)) best = p.value as number;
  }
  return best;
}

/** Best within a budget over seeds: the mean over the seeds with an epoch within it, and how many had one. */
export interface BudgetSummary {
  within: number;
  of: number;
  mean?: number;
}

export function summarizeBestWithin(
  runs: readonly (readonly EpochPoint[])[],
  budget: number,
  dir: Direction,
): BudgetSummary {
  const bests = runs.map((r) => bestWithin(r, budget, dir)).filter(finite);
  return bests.length
    ? { within: bests.length, of: runs.length, mean: mean(bests) }
    : { within: 0, of: runs.length };
}

/** A seed-mean curve point: cumulative training seconds and the metric, each averaged over the seeds that have the epoch. */
export interface CurvePoint {
  epoch: number;
  seconds: number;
  value: number;
}

/**
 * The seed-mean learning curve: at each epoch, the mean metric over the
 * seeds that measured one there, at the mean cumulative seconds of the seeds
 * that ran it. Epochs no seed measured are left out (a diverged run stops).
 */
export function meanCurve(
  runs: readonly (readonly EpochPoint[])[],
): CurvePoint[] {
  const cumulative = runs.map((r) => {
    let s = 0;
    return r.map((p) => ({ ...p, cum: s += p.seconds }));
  });
  const last = Math.max(0, ...runs.flatMap((r) => r.map((p) => p.epoch)));
  const out: CurvePoint[] = [];
  for (let epoch = 1; epoch <= last; epoch++) {
    const at = cumulative.flatMap((r) => r.filter((p) => p.epoch === epoch));
    const values = at.map((p) => p.value).filter(finite);
    if (!values.length) continue;
    out.push({
      epoch,
      seconds: mean(at.map((p) => p.cum)),
      value: mean(values),
    });
  }
  return out;
}

/** Mean, min and max of the finite values; undefined when there are none. */
export function spread(
  xs: readonly (number | null | undefined)[],
): { mean: number; min: number; max: number; n: number } | undefined {
  const v = xs.filter(finite);
  if (!v.length) return undefined;
  return {
    mean: mean(v),
    min: Math.min(...v),
    max: Math.max(...v),
    n: v.length,
  };
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
