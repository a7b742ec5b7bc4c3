/**
 * `deno task bench --suite convergence [--quick] [--tasks mlp,resnet,...]
 * [--seeds 3]`: for each task, tunes every optimizer on the validation
 * metric (bench/convergence_tune.ts), reruns the chosen setting on more
 * seeds, and writes one report with time-to-target and equal-time tables and
 * learning curves (bench/convergence_report.ts).
 */
import type { BackendName } from "../src/engine/mod.ts";
import { type BenchConfig, loadBenchConfig, warmUp } from "./config_bench.ts";
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
import { TrialPool } from "./trial_pool.ts";

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
  /** Runs at once, each in a child process when above 1. */
  jobs: number;
  /** A child's bench command (executable arguments), for `jobs` above 1. */
  childArgs: string[];
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
  /** Optimizers asked for; more than `optimizers` while the task runs. */
  planned: number;
}

/** The final validation metric of a run that finished; undefined when it stopped. */
function finalVal(row: Row, metric: MetricKind): number | undefined {
  if (row.error) return undefined;
  const v = row.epochs.at(-1) && valMetric(row.epochs.at(-1)!, metric);
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

async function runTask(
  task: ConvergenceTask,
  opts: ConvergenceOptions,
  pool: TrialPool,
  onProgress: (partial: TaskResult) => Promise<void>,
): Promise<TaskResult> {
  const t0 = performance.now();
  const cfg = await loadBenchConfig(task.config, {
    epochs: task.epochs,
    limit: task.limit,
    testLimit: task.testLimit,
  });
  // Children warm themselves up; this process only for its own runs.
  if (opts.warmup && pool.inProcess) {
    console.error(`${task.key}: warm-up`);
    await warmUp(cfg, opts.optimizers);
  }
  const dir = direction(task.metric);
  const baseSeed = cfg.input.seed ?? 0;
  const seeds = Array.from({ length: opts.seeds }, (_, i) => baseSeed + i);
  const result = (optimizers: OptimizerResult[]): TaskResult => ({
    task,
    cfg,
    samples: cfg.data.y.length,
    optimizers,
    seconds: (performance.now() - t0) / 1000,
    planned: opts.optimizers.length,
  });
  // Finished optimizers, in the order asked for, for the partial reports.
  const finished = new Map<string, OptimizerResult>();
  const inOrder = () =>
    opts.optimizers.flatMap((l) => finished.has(l) ? [finished.get(l)!] : []);
  // Every optimizer's runs are queued at once; the pool decides how many run,
  // the earlier optimizers' first, so that optimizers finish one by one and a
  // run stopped early still leaves whole results for the first of them.
  const optimizers = await Promise.all(
    opts.optimizers.map(async (label, priority): Promise<OptimizerResult> => {
      const tune = await tuneOptimizer(
        cfg,
        label,
        opts.grid,
        dir,
        async (variant) => {
          const row = await pool.run({ cfg, variant }, priority);
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
      const more = await Promise.all(
        seeds.slice(1).map(async (seed) => {
          const row = await pool.run(
            { cfg, variant: tune.chosen.variant, seed },
            priority,
          );
          console.error(
            `${task.key} ${tune.chosen.variant} seed ${seed}: test ${
              row.testAccuracy?.toFixed(4) ?? row.error ?? "n/a"
            }`,
          );
          return row;
        }),
      );
      const done = { label, tune, seeds, runs: [tune.row, ...more] };
      finished.set(label, done);
      await onProgress(result(inOrder()));
      return done;
    }),
  );
  return result(optimizers);
}

/** Runs the suite, rewriting the report as runs finish; returns its path. */
export async function benchConvergence(
  opts: ConvergenceOptions,
): Promise<string> {
  const t0 = performance.now();
  const results: TaskResult[] = [];
  const pool = new TrialPool({
    jobs: opts.jobs,
    warmup: opts.warmup,
    childArgs: opts.childArgs,
  });
  let path = "";
  // Rewritten as each optimizer finishes, so a run that is stopped still
  // leaves the report of everything that finished.
  const write = async (all: TaskResult[]) => {
    path = await writeConvergenceReport(all, {
      backend: opts.backend,
      command: opts.command,
      resultsDir: opts.resultsDir,
      grid: opts.grid,
      seeds: opts.seeds,
      quick: opts.quick,
      jobs: opts.jobs,
      taskKeys: opts.tasks.map((t) => t.key),
      seconds: (performance.now() - t0) / 1000,
    });
  };
  for (const task of opts.tasks) {
    const done = await runTask(
      task,
      opts,
      pool,
      (partial) => write([...results, partial]),
    );
    results.push(done);
    await write(results);
  }
  console.error(`wrote ${path}`);
  return path;
}
