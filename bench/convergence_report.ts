/**
 * The convergence suite's report: per task, the tuning, the test metric of
 * the chosen settings over seeds, time to target and best-at-equal-time
 * tables, and two SVG curves (metric vs epochs, metric vs seconds).
 */
import { join } from "node:path";
import type { BackendName } from "../src/engine/mod.ts";
import type { OptimizerResult, TaskResult } from "./convergence.ts";
import {
  type Direction,
  equalTimeBudget,
  meanCurve,
  spread,
  summarizeBestWithin,
  summarizeTimeToTarget,
  totalSeconds,
} from "./convergence_metrics.ts";
import {
  direction,
  type Grid,
  type MetricKind,
  metricLabel,
  pointsOf,
} from "./convergence_tasks.ts";
import { renderLinesSvg } from "./plot_svg.ts";
import { epochSeconds, mean } from "./rows.ts";

export interface ReportOptions {
  backend: BackendName;
  command: string;
  resultsDir: string;
  grid: Grid;
  seeds: number;
  quick: boolean;
  /** Runs at once (`--jobs`), each in its own process when above 1. */
  jobs: number;
  /** The suite's tasks, which name the report file. */
  taskKeys: string[];
  /** Wall-clock seconds of the suite so far. */
  seconds: number;
}

/** A metric value as the tables print it. */
export function metricText(v: number | undefined, metric: MetricKind): string {
  if (v === undefined || !Number.isFinite(v)) return "n/a";
  return metric === "reconstruction_error" ? v.toFixed(2) : v.toFixed(4);
}

const multipliers = (xs: number[]) =>
  xs.map((m) => m >= 1 ? `${m}` : `1/${Math.round(1 / m)}`).join(", ");

function methodLines(opts: ReportOptions): string[] {
  return [
    `Tuning: lr at x ${
      multipliers(opts.grid.lr)
    } of each optimizer's spec default at its default damping, then damping (Shampoo: epsilon) at x ${
      multipliers(opts.grid.damping)
    } of its default at the best lr; the setting with the best final validation metric wins (ties go to the lower final validation loss, then the earlier trial; a run that stopped, e.g. diverged, never wins). Other fields are the spec defaults, except that the config's own optimizer (fngd, and so fngd:refresh=auto) keeps the config's momentum and weight decay.`,
    `Seeds: the chosen setting's tuning run is the first seed (the config's); the others rerun it with seed + 1, + 2, ... (the samples stay the same; the seed changes the validation split, initialization and shuffling). Test metrics are mean (min-max) over seeds.`,
    `Time to target: the first epoch whose validation metric reaches the target, and the training seconds (sum of epoch \`seconds\`, evaluation excluded) up to it; the mean is over the seeds that reached it.`,
    `Best at equal time: the budget is the smallest mean total training time among the task's optimizers; each seed's best validation metric among the epochs that ended within it, averaged over the seeds that had such an epoch.`,
    opts.jobs > 1
      ? `Runs: ${opts.jobs} at once, each a single-threaded process on a machine with ${navigator.hardwareConcurrency} cores, so each had a core of its own; their seconds are comparable with each other, less so with a run made alone.`
      : `Runs: one at a time, in one process.`,
  ];
}

function tuningTable(
  optimizers: OptimizerResult[],
  metric: MetricKind,
): string[] {
  const lines = [
    "| optimizer | default lr | default damping | chosen | final val (chosen) | trials (final val) |",
    "|---|---|---|---|---|---|",
  ];
  for (const o of optimizers) {
    const d = o.tune.defaults;
    const trials = o.tune.trials.map((t) =>
      `${t.variant.slice(o.label.length + 1)}: ${
        t.error ? "stopped" : metricText(t.val, metric)
      }`
    ).join("; ");
    lines.push(
      `| ${o.label} | ${d.lr} | ${
        d.damping ?? "-"
      } | \`${o.tune.chosen.variant}\` | ${
        metricText(o.tune.chosen.val, metric)
      } | ${trials} |`,
    );
  }
  return lines;
}

function testTable(
  optimizers: OptimizerResult[],
  metric: MetricKind,
): string[] {
  const lines = [
    "| optimizer | mean | min | max | seeds measured | stopped runs |",
    "|---|---|---|---|---|---|",
  ];
  for (const o of optimizers) {
    const s = spread(o.runs.map((r) => r.testAccuracy));
    const stopped = o.runs.filter((r) => r.error).length;
    lines.push(
      `| ${o.label} | ${metricText(s?.mean, metric)} | ${
        metricText(s?.min, metric)
      } | ${metricText(s?.max, metric)} | ${
        s?.n ?? 0
      }/${o.runs.length} | ${stopped} |`,
    );
  }
  return lines;
}

function targetTable(
  optimizers: OptimizerResult[],
  metric: MetricKind,
  target: number,
  dir: Direction,
): string[] {
  const lines = [
    "| optimizer | seeds reached | epochs (mean) | seconds (mean) |",
    "|---|---|---|---|",
  ];
  for (const o of optimizers) {
    const s = summarizeTimeToTarget(
      o.runs.map((r) => pointsOf(r, metric)),
      target,
      dir,
    );
    lines.push(
      `| ${o.label} | ${s.reached}/${s.of} | ${s.epochs?.toFixed(2) ?? "-"} | ${
        s.seconds?.toFixed(2) ?? "-"
      } |`,
    );
  }
  return lines;
}

function equalTimeTable(
  optimizers: OptimizerResult[],
  metric: MetricKind,
  dir: Direction,
): { budget: number; lines: string[] } {
  const runs = optimizers.map((o) => o.runs.map((r) => pointsOf(r, metric)));
  const budget = equalTimeBudget(runs);
  const lines = [
    "| optimizer | total training s (mean) | best val within budget (mean) | seeds with an epoch within budget |",
    "|---|---|---|---|",
  ];
  optimizers.forEach((o, i) => {
    const total = runs[i].map(totalSeconds);
    const s = summarizeBestWithin(runs[i], budget, dir);
    lines.push(
      `| ${o.label} | ${
        (total.reduce((a, b) => a + b, 0) / total.length).toFixed(2)
      } | ${metricText(s.mean, metric)} | ${s.within}/${s.of} |`,
    );
  });
  return { budget, lines };
}

/**
 * Seconds per epoch by phase over every seed of the chosen setting, as a
 * ratio to SGD's training epoch in the same report, with the run's solve
 * and refresh counters per epoch: this is where fngd's inverse-free cost
 * target (1.15x SGD) and auto refresh's re-solves can be read directly.
 */
function costTable(optimizers: OptimizerResult[]): string[] {
  const lines = [
    "| optimizer | phase | epochs | s/epoch (mean) | x SGD epoch | solves per epoch (whole run) | refreshes per inverse-free epoch |",
    "|---|---|---|---|---|---|---|",
  ];
  const sgd = optimizers.find((o) => o.label === "sgd");
  const sgdEpoch = sgd ? meanOf(sgd.runs.flatMap((r) => epochSeconds(r))) : NaN;
  for (const o of optimizers) {
    const epochs = o.runs.flatMap((r) => r.epochs);
    const solves = sumOf(o.runs.map((r) => r.counters?.solves ?? 0));
    const refreshes = sumOf(o.runs.map((r) => r.counters?.refreshes ?? 0));
    const inverseFree = epochs.filter((e) => e.phase === "inverse_free").length;
    const phases = [...new Set(epochs.map((e) => e.phase))];
    for (const phase of phases) {
      const s = meanOf(o.runs.flatMap((r) => epochSeconds(r, phase)));
      lines.push(
        `| ${o.label} | ${phase} | ${
          epochs.filter((e) => e.phase === phase).length
        } | ${s.toFixed(2)} | ${
          Number.isFinite(s / sgdEpoch) ? (s / sgdEpoch).toFixed(3) : "n/a"
        } | ${
          phase === phases[0] && epochs.length
            ? (solves / epochs.length).toFixed(1)
            : ""
        } | ${
          phase === "inverse_free" && inverseFree
            ? (refreshes / inverseFree).toFixed(1)
            : "-"
        } |`,
      );
    }
  }
  return lines;
}

const sumOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const meanOf = (xs: number[]) => xs.length ? mean(xs) : NaN;

/** Writes the two SVG curves of a task; returns their file names. */
async function writeCurves(
  result: TaskResult,
  opts: ReportOptions,
): Promise<{ epochs: string; seconds: string }> {
  const metric = result.task.metric;
  const curves = result.optimizers.map((o) => ({
    name: o.label,
    curve: meanCurve(o.runs.map((r) => pointsOf(r, metric))),
  }));
  const yTitle = `validation ${metricLabel(metric)} (seed mean)`;
  const logY = metric === "reconstruction_error";
  const names = {
    epochs: `convergence_${opts.backend}_${result.task.key}_epochs.svg`,
    seconds: `convergence_${opts.backend}_${result.task.key}_seconds.svg`,
  };
  for (
    const [axis, xTitle] of [["epochs", "epoch"], [
      "seconds",
      "training seconds",
    ]] as const
  ) {
    const svg = await renderLinesSvg({
      title: `${result.task.key}: ${yTitle} vs ${xTitle}`,
      xTitle,
      yTitle,
      logY,
      series: curves.map((c) => ({
        name: c.name,
        points: c.curve.map((p) => ({
          x: axis === "epochs" ? p.epoch : p.seconds,
          y: p.value,
        })),
      })),
    });
    await Deno.writeTextFile(join(opts.resultsDir, names[axis]), svg);
  }
  return names;
}

async function taskLines(
  result: TaskResult,
  opts: ReportOptions,
): Promise<string[]> {
  const { task } = result;
  const dir = direction(task.metric);
  const label = metricLabel(task.metric);
  const { budget, lines: equalTime } = equalTimeTable(
    result.optimizers,
    task.metric,
    dir,
  );
  const svgs = await writeCurves(result, opts);
  const seeds = result.optimizers[0]?.seeds.join(", ") ?? "-";
  const partial = result.optimizers.length < result.planned;
  return [
    `## ${task.key}: \`${task.config}\``,
    "",
    ...(partial
      ? [
        `PARTIAL: ${result.optimizers.length} of ${result.planned} optimizers had finished when this was written.`,
        "",
      ]
      : []),
    `Samples ${result.samples} (limit ${task.limit}), ${task.epochs} epochs, test samples: ${
      task.testLimit ? `the first ${task.testLimit}` : "all"
    }; seeds ${seeds}. Target: ${task.targetNote}. Changed for the bench: ${
      result.cfg.notes.join("; ") || "nothing"
    }. Task wall time (tuning, seeds, evaluation): ${
      result.seconds.toFixed(0)
    } s.`,
    "",
    `### Tuning (final validation ${label})`,
    "",
    ...tuningTable(result.optimizers, task.metric),
    "",
    `### Test ${label} of the chosen setting`,
    "",
    ...testTable(result.optimizers, task.metric),
    "",
    `### Time to target (validation ${label} ${
      dir === "higher" ? ">=" : "<="
    } ${task.target})`,
    "",
    ...targetTable(result.optimizers, task.metric, task.target, dir),
    "",
    `### Best validation ${label} within ${budget.toFixed(2)} s of training`,
    "",
    ...equalTime,
    "",
    "### Cost per epoch by phase (every seed of the chosen setting)",
    "",
    ...costTable(result.optimizers),
    "",
    "### Curves",
    "",
    `![${task.key} vs epochs](${svgs.epochs}) ![${task.key} vs seconds](${svgs.seconds})`,
    "",
  ];
}

/** Writes `<resultsDir>/convergence_<backend>.md` and the SVGs; returns the report's path. */
export async function writeConvergenceReport(
  results: TaskResult[],
  opts: ReportOptions,
): Promise<string> {
  await Deno.mkdir(opts.resultsDir, { recursive: true });
  const lines = [
    `# Convergence${opts.quick ? " (quick check)" : ""}: ${
      results.map((r) => r.task.key).join(", ")
    }, backend ${opts.backend}`,
    "",
    `Command: \`${opts.command}\``,
    "",
    `Date: ${
      new Date().toISOString()
    }; Deno ${Deno.version.deno}; ${navigator.hardwareConcurrency} cores; ${opts.seeds} seeds; suite wall time so far ${
      opts.seconds.toFixed(0)
    } s.`,
    "",
    ...methodLines(opts).flatMap((l) => [l, ""]),
  ];
  for (const r of results) lines.push(...await taskLines(r, opts));
  const path = join(
    opts.resultsDir,
    `convergence_${opts.backend}_${opts.taskKeys.join("_")}.md`,
  );
  await Deno.writeTextFile(path, lines.join("\n"));
  return path;
}
