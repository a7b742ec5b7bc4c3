/**
 * Where the convergence suite's training runs execute: one at a time in this
 * process (the default), or up to `jobs` at once, each in a child process
 * (`--jobs N`). A wasm run is single-threaded, so on a machine with more
 * cores N children finish N times sooner, each on its own core; N above the
 * core count would only make every run's seconds slower.
 */
import {
  type BenchConfig,
  loadBenchConfig,
  runOptimizer,
  warmUp,
} from "./config_bench.ts";
import type { Row } from "./rows.ts";

/**
 * A counting semaphore: at most `n` holders at once; waiters are served by
 * priority (lower first), then in arrival order.
 */
export class Limiter {
  #free: number;
  readonly #waiting: { priority: number; wake: () => void }[] = [];

  constructor(n: number) {
    if (!(Number.isInteger(n) && n >= 1)) {
      throw new Error(`Limiter needs a positive integer, got ${n}`);
    }
    this.#free = n;
  }

  async run<T>(fn: () => Promise<T>, priority = 0): Promise<T> {
    if (this.#free > 0) this.#free--;
    else {
      await new Promise<void>((wake) => {
        const at = this.#waiting.findIndex((w) => w.priority > priority);
        const entry = { priority, wake };
        if (at < 0) this.#waiting.push(entry);
        else this.#waiting.splice(at, 0, entry);
      });
    }
    try {
      return await fn();
    } finally {
      // Hand the slot straight to the next waiter, or give it back.
      const next = this.#waiting.shift();
      if (next) next.wake();
      else this.#free++;
    }
  }
}

/** `cfg` with another seed in its job spec. */
export function withSeed(cfg: BenchConfig, seed: number): BenchConfig {
  return { ...cfg, input: { ...cfg.input, seed } };
}

/** One training run: an optimizer variant on a config, optionally with another seed. */
export interface Trial {
  cfg: BenchConfig;
  variant: string;
  /** Undefined: the config's own seed. */
  seed?: number;
}

export interface TrialPoolOptions {
  /** Runs at once; 1 runs them in this process, one after another. */
  jobs: number;
  /** Untimed warm-up epochs before each child's run (in-process runs warm up once per task instead). */
  warmup: boolean;
  /** The bench command a child runs: the executable's arguments before the trial's own flags. */
  childArgs: string[];
}

export class TrialPool {
  readonly #limiter: Limiter;

  constructor(readonly opts: TrialPoolOptions) {
    this.#limiter = new Limiter(opts.jobs);
  }

  get inProcess(): boolean {
    return this.opts.jobs === 1;
  }

  /** Runs `trial` when a slot is free; lower `priority` goes first. */
  run(trial: Trial, priority = 0): Promise<Row> {
    return this.#limiter.run(
      () => this.inProcess ? runInProcess(trial) : this.#runInChild(trial),
      priority,
    );
  }

  async #runInChild(trial: Trial): Promise<Row> {
    const out = await Deno.makeTempFile({ prefix: "trial_", suffix: ".json" });
    try {
      const args = [
        ...this.opts.childArgs,
        ...trialArgs(trial),
        "--trial-out",
        out,
        ...(this.opts.warmup ? [] : ["--no-warmup"]),
      ];
      const { code } = await new Deno.Command(Deno.execPath(), {
        args,
        stdin: "null",
        stdout: "inherit",
        stderr: "inherit",
      }).output();
      if (code !== 0) {
        // Recorded like a diverged run, so one crash does not lose the suite.
        return {
          name: trial.variant,
          epochs: [],
          testAccuracy: undefined,
          error: `trial process exited with code ${code}`,
        };
      }
      return JSON.parse(await Deno.readTextFile(out)) as Row;
    } finally {
      await Deno.remove(out).catch(() => {});
    }
  }
}

function runInProcess(trial: Trial): Promise<Row> {
  const cfg = trial.seed === undefined
    ? trial.cfg
    : withSeed(trial.cfg, trial.seed);
  return runOptimizer(cfg, trial.variant, { quiet: true });
}

/** The flags that make a child bench process run `trial` (see {@link runTrialMain}). */
export function trialArgs(trial: Trial): string[] {
  const { cfg } = trial;
  const args = ["--trial", trial.variant, "--config", cfg.path];
  if (trial.seed !== undefined) args.push("--trial-seed", String(trial.seed));
  const epochs = cfg.input.epochs;
  if (epochs !== undefined) args.push("--epochs", String(epochs));
  if (cfg.limit !== undefined) args.push("--limit", String(cfg.limit));
  if (cfg.testLimit !== undefined) {
    args.push("--test-limit", String(cfg.testLimit));
  }
  return args;
}

/** A child's side: loads the config as its parent did, trains once, writes the row as JSON. */
export async function runTrialMain(opts: {
  config: string;
  variant: string;
  seed?: number;
  epochs?: number;
  limit?: number;
  testLimit?: number;
  warmup: boolean;
  out: string;
}): Promise<void> {
  const cfg = await loadBenchConfig(opts.config, {
    epochs: opts.epochs,
    limit: opts.limit,
    testLimit: opts.testLimit,
  });
  const trial: Trial = { cfg, variant: opts.variant, seed: opts.seed };
  if (opts.warmup) await warmUp(cfg, [opts.variant]);
  const row = await runInProcess(trial);
  await Deno.writeTextFile(opts.out, JSON.stringify(row));
}
