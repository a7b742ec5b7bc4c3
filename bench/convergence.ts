/**
 * `deno task bench --suite convergence [--quick] [--tasks mlp,resnet,...]
 * [--seeds 3]`: for each task, tunes every optimizer on the validation
 * metric (bench/convergence_tune.ts), reruns the chosen setting on more
 * seeds, and writes one report with time-to-target and equal-time tables and
 * learning curves (bench/convergence_report.ts).
 */
import type { BackendName } from "../src/engine/mod.ts";
import {
  type BenchConfig,
  loadBenchConfig,
  runOptimizer,
  warmUp,
} from "./config_bench.ts";
import {
  type ConvergenceTask,
  direction,
  type Grid,
  type MetricKind,
  valMetric,
} from "./convergence_tasks.ts";
import { tuneOptimizer, type TuneResult } from "./convergence_tune.ts";
import { writeConvergenceReport } from "./convergence_report.ts";
import type { Row } from "./rows.ts";

export interface ConvergenceOptions {
  backend: BackendName;
  tasks: ConvergenceTask[];
  /** Optimizer names or variants (`fngd:refresh=auto`). */
  optimizers: string[];
  grid: Grid;
  seeds: number;
  warmup: boolean;
  quick: boolean;
  command: string;
  resultsDir: string;
}

/** One optimizer on one task: its tuning and its runs, one per seed. */
export interface OptimizerResult {
  label: string;
  tune: TuneResult;
  seeds: number[];
  runs: Row[];
}

export interface TaskResult {
  task: ConvergenceTask;
  cfg: Pick<BenchConfig, "name" | "path" | "notes">;
  samples: number;
  optimizers: OptimizerResult[];
  seconds: number;
}

/** The final validation metric of a run that finished; undefined when it stopped. */
function finalVal(row: Row, metric: MetricKind): number | undefined {
  if (row.error) return undefined;
  const v = row.epochs.at(-1) && valMetric(row.epochs.at(-1)!, metric);
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** `cfg` with another seed in its job spec. */
function withSeed(cfg: BenchConfig, seed: number): BenchConfig {
  return { ...cfg, input: { ...cfg.input, seed } };
}

async function runTask(
  task: ConvergenceTask,
  opts: ConvergenceOptions,
): Promise<TaskResult> {
  const t0 = performance.now();
  const cfg = await loadBenchConfig(task.config, {
    epochs: task.epochs,
    limit: task.limit,
    testLimit: task.testLimit,
  });
  if (opts.warmup) {
    console.error(`${task.key}: warm-up`);
    await warmUp(cfg, opts.optimizers);
  }
  const dir = direction(task.metric);
  const baseSeed = cfg.input.seed ?? 0;
  const seeds = Array.from({ length: opts.seeds }, (_, i) => baseSeed + i);
  const optimizers: OptimizerResult[] = [];
  for (const label of opts.optimizers) {
    const tune = await tuneOptimizer(
      cfg,
      label,
      opts.grid,
      dir,
      async (variant) => {
        const row = await runOptimizer(cfg, variant, { quiet: true });
        const v = finalVal(row, task.metric);
        console.error(
          `${task.key} tune ${variant}: final val ${
            v?.toFixed(4) ?? row.error ?? "n/a"
          }`,
        );
        return row;
      },
      (row) => finalVal(row, task.metric),
    );
    // The tuning run already trained the chosen setting on the config's seed.
    const runs = [tune.row];
    for (const seed of seeds.slice(1)) {
      const row = await runOptimizer(
        withSeed(cfg, seed),
        tune.chosen.variant,
        { quiet: true },
      );
      console.error(
        `${task.key} ${tune.chosen.variant} seed ${seed}: test ${
          row.testAccuracy?.toFixed(4) ?? row.error ?? "n/a"
        }`,
      );
      runs.push(row);
    }
    optimizers.push({ label, tune, seeds, runs });
  }
  return {
    task,
    cfg,
    samples: cfg.data.y.length,
    optimizers,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Runs the suite, rewriting the report after each task; returns its path. */
export async function benchConvergence(
  opts: ConvergenceOptions,
): Promise<string> {
  const t0 = performance.now();
  const results: TaskResult[] = [];
  let path = "";
  for (const task of opts.tasks) {
    results.push(await runTask(task, opts));
    // A long run that is stopped still leaves the finished tasks' report.
    path = await writeConvergenceReport(results, {
      backend: opts.backend,
      command: opts.command,
      resultsDir: opts.resultsDir,
      grid: opts.grid,
      seeds: opts.seeds,
      quick: opts.quick,
      seconds: (performance.now() - t0) / 1000,
    });
  }
  console.error(`wrote ${path}`);
  return path;
}
