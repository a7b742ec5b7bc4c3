/**
 * A comparison's table: per optimizer, over its seeds, the best value of the
 * ranking metric, the epochs and training seconds to reach the target, and
 * how far the runs have got. Computed from epoch_metrics on each read, so it
 * is never stale and needs no bookkeeping while jobs run.
 */
import { z } from "@hono/zod-openapi";
import {
  COMPARISON_METRICS,
  type ComparisonMetric,
  type EpochMetricRow,
  JOB_STATUSES,
} from "../db/mod.ts";
import type { ComparisonRun } from "./_comparison_lookup.ts";

const Spread = z.object({
  mean: z.number(),
  min: z.number(),
  max: z.number(),
  n: z.int().openapi({ description: "runs with a value" }),
}).openapi("MetricSpread");

/** One (optimizer, seed) job's numbers. */
const RunSummarySchema = z.object({
  seed: z.int(),
  job_id: z.uuid(),
  status: z.enum(JOB_STATUSES),
  best: z.number().nullable().openapi({
    description: "best value of the metric over the finished epochs",
  }),
  best_epoch: z.int().nullable(),
  latest_epoch: z.int().openapi({
    description: "the last finished epoch; 0 before the first ends",
  }),
  epochs_to_target: z.int().nullable().openapi({
    description: "the first epoch that reached the target; null if none yet",
  }),
  seconds_to_target: z.number().nullable().openapi({
    description:
      "training seconds of epochs 1 to epochs_to_target, summed (evaluation and checkpoints excluded)",
  }),
}).openapi("ComparisonRunSummary");

/** One optimizer's row of the table. */
export const ComparisonTableRowSchema = z.object({
  optimizer: z.int().openapi({ description: "index into `optimizers`" }),
  name: z.string().openapi({ example: "fngd" }),
  best: z.union([Spread, z.null()]).openapi({
    description: "the runs' best values: mean, min and max over seeds",
  }),
  target: z.union([
    z.object({
      reached: z.int().openapi({ description: "runs that reached it" }),
      runs: z.int(),
      epochs_mean: z.number().nullable().openapi({
        description: "mean epochs_to_target over the runs that reached it",
      }),
      seconds_mean: z.number().nullable().openapi({
        description: "mean seconds_to_target over the runs that reached it",
      }),
    }),
    z.null(),
  ]).openapi({ description: "null when the comparison has no target" }),
  latest_epoch: z.object({ min: z.int(), max: z.int() }).openapi({
    description: "the slowest and the furthest run's last finished epoch",
  }),
  runs: z.array(RunSummarySchema).openapi({ description: "in `seeds` order" }),
}).openapi("ComparisonTableRow");

type Row = z.infer<typeof ComparisonTableRowSchema>;
type RunSummary = z.infer<typeof RunSummarySchema>;

/** What the table ranks by and, optionally, the value to reach. */
export interface TableOptions {
  metric: ComparisonMetric;
  target?: { value: number } | null;
  /** The comparison's optimizers, one row each. */
  optimizers: { name?: unknown }[];
}

/** Mean, min and max of `values`; null when there are none. */
function spread(values: number[]): z.infer<typeof Spread> | null {
  if (values.length === 0) return null;
  return {
    mean: values.reduce((a, b) => a + b, 0) / values.length,
    min: Math.min(...values),
    max: Math.max(...values),
    n: values.length,
  };
}

const mean = (values: number[]) =>
  values.length === 0
    ? null
    : values.reduce((a, b) => a + b, 0) / values.length;

/** One run's numbers from its epochs, which must be in epoch order. */
export function summarizeRun(
  run: ComparisonRun,
  epochs: EpochMetricRow[],
  opts: TableOptions,
): RunSummary {
  const { field, better } = COMPARISON_METRICS[opts.metric];
  const beats = (a: number, b: number) => better === "higher" ? a > b : a < b;
  const reaches = (v: number, goal: number) =>
    better === "higher" ? v >= goal : v <= goal;
  let best: number | null = null;
  let bestEpoch: number | null = null;
  let seconds = 0;
  let epochsToTarget: number | null = null;
  let secondsToTarget: number | null = null;
  for (const row of epochs) {
    // Each epoch's seconds time that epoch alone, so the time to reach
    // epoch k is the sum up to k.
    seconds += row.seconds;
    const value = row[field];
    if (value === null || !Number.isFinite(value)) continue;
    if (best === null || beats(value, best)) {
      best = value;
      bestEpoch = row.epoch;
    }
    if (
      opts.target && epochsToTarget === null &&
      reaches(value, opts.target.value)
    ) {
      epochsToTarget = row.epoch;
      secondsToTarget = seconds;
    }
  }
  return {
    seed: run.seed,
    job_id: run.job.id,
    status: run.job.status,
    best,
    best_epoch: bestEpoch,
    latest_epoch: epochs.at(-1)?.epoch ?? 0,
    epochs_to_target: epochsToTarget,
    seconds_to_target: secondsToTarget,
  };
}

/**
 * The table, one row per optimizer in `optimizers` order. `runs` come in
 * table order (comparisonRuns); `metrics` are every run's epochs.
 */
export function buildTable(
  runs: ComparisonRun[],
  metrics: EpochMetricRow[],
  opts: TableOptions,
): Row[] {
  const byJob = Map.groupBy(metrics, (m) => m.jobId);
  const rows: Row[] = [];
  for (const [i, optimizer] of opts.optimizers.entries()) {
    const mine = runs.filter((r) => r.optimizer === i);
    const summaries = mine.map((r) =>
      summarizeRun(
        r,
        (byJob.get(r.job.id) ?? []).toSorted((a, b) => a.epoch - b.epoch),
        opts,
      )
    );
    const reached = summaries.filter((s) => s.epochs_to_target !== null);
    const latest = summaries.map((s) => s.latest_epoch);
    rows.push({
      optimizer: i,
      name: String(optimizer.name),
      best: spread(
        summaries.flatMap((s) => s.best === null ? [] : [s.best]),
      ),
      target: opts.target
        ? {
          reached: reached.length,
          runs: summaries.length,
          epochs_mean: mean(reached.map((s) => s.epochs_to_target!)),
          seconds_mean: mean(reached.map((s) => s.seconds_to_target!)),
        }
        : null,
      latest_epoch: {
        min: latest.length ? Math.min(...latest) : 0,
        max: latest.length ? Math.max(...latest) : 0,
      },
      runs: summaries,
    });
  }
  return rows;
}
