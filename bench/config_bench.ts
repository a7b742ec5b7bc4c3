/**
 * Benchmarks one job config (e.g. examples/resnet_fashion_mnist.json): its
 * model, loss, target, schedule, batch size, seed and dataset, trained with
 * each optimizer at its defaults, all in one process and interleaved across
 * rounds. Each optimizer's spec is the zod defaults of its schema, except
 * the config's own optimizer, which keeps the config's fields.
 */
import { basename, dirname, resolve } from "node:path";
import {
  type Dataset,
  EngineError,
  type EpochEventData,
  JobSpec,
  type JobSpecInput,
  type OptimizerName,
  train,
  type TrainResult,
} from "../src/engine/mod.ts";
import { resolveDataset } from "../src/datasets.ts";
import { formatIssues } from "../src/cli/train.ts";
import type { Row } from "./rows.ts";

/** A config ready to bench: how to build each optimizer's spec, and its data. */
export interface BenchConfig {
  path: string;
  /** File name without `.json`, e.g. `resnet_fashion_mnist`. */
  name: string;
  /** The config with `--epochs` (and the schedule fitted to it) applied. */
  input: JobSpecInput;
  /** What the bench changed in the config, for the report. */
  notes: string[];
  data: Dataset;
  limit?: number;
}

/** The config's job spec with `optimizer` in place of the config's optimizer. */
export function specFor(cfg: BenchConfig, optimizer: OptimizerName): JobSpec {
  const own = cfg.input.optimizer;
  return JobSpec.parse({
    ...cfg.input,
    optimizer: own.name === optimizer ? own : { name: optimizer },
  });
}

/** Fits a schedule to fewer epochs than the config's; returns notes on what changed. */
function fitSchedule(input: Record<string, unknown>, epochs: number): string[] {
  const s = input.schedule as
    | { name: string; warmup_epochs?: number; milestones?: number[] }
    | undefined;
  if (s?.name === "cosine" && (s.warmup_epochs ?? 0) >= epochs) {
    input.schedule = { ...s, warmup_epochs: epochs - 1 };
    return [`cosine warmup_epochs ${s.warmup_epochs} -> ${epochs - 1}`];
  }
  if (s?.name === "step" && s.milestones?.some((m) => m > epochs)) {
    const kept = s.milestones.filter((m) => m <= epochs);
    input.schedule = kept.length
      ? { ...s, milestones: kept }
      : { name: "constant" };
    return [`step milestones [${s.milestones}] -> ${JSON.stringify(kept)}`];
  }
  return [];
}

/** The first `limit` training samples (the test split is kept whole). */
function firstSamples(data: Dataset, limit: number | undefined): Dataset {
  if (limit === undefined || limit >= data.y.length) return data;
  const width = data.sampleShape.reduce((a, b) => a * b, 1);
  return {
    ...data,
    x: data.x.subarray(0, limit * width),
    y: data.y.subarray(0, limit),
  };
}

/** Reads, validates and adapts a config, and loads its dataset. */
export async function loadBenchConfig(
  path: string,
  overrides: { epochs?: number; limit?: number },
): Promise<BenchConfig> {
  const raw = JSON.parse(await Deno.readTextFile(path));
  const input = { ...raw } as Record<string, unknown>;
  const notes: string[] = [];
  if (overrides.epochs !== undefined) {
    notes.push(`epochs ${raw.epochs ?? "(default)"} -> ${overrides.epochs}`);
    input.epochs = overrides.epochs;
    notes.push(...fitSchedule(input, overrides.epochs));
  }
  const parsed = JobSpec.safeParse(input);
  if (!parsed.success) {
    throw new Error(`invalid config ${path}:\n${formatIssues(parsed.error)}`);
  }
  const full = await resolveDataset(parsed.data.dataset, {
    baseDir: dirname(resolve(path)),
  });
  return {
    path,
    name: basename(path).replace(/\.json$/, ""),
    input: input as JobSpecInput,
    notes,
    data: firstSamples(full, overrides.limit),
    limit: overrides.limit,
  };
}

/** Test accuracy, or test reconstruction error for autoencoders. */
export function testMetric(
  spec: JobSpec,
  result: TrainResult | undefined,
): number | undefined {
  return spec.target === "input"
    ? result?.final.test_reconstruction_error
    : result?.final.test_accuracy;
}

/**
 * Trains `cfg` with one optimizer; a diverged or failed run keeps the epochs
 * it finished and says why in `error` rather than stopping the bench.
 */
export async function runOptimizer(
  cfg: BenchConfig,
  name: OptimizerName,
  opts: { quiet?: boolean; data?: Dataset; epochs?: number } = {},
): Promise<Row> {
  const spec = specFor(cfg, name);
  if (opts.epochs !== undefined) {
    Object.assign(spec, {
      epochs: opts.epochs,
      schedule: { name: "constant" },
    });
  }
  const epochs: EpochEventData[] = [];
  let result: TrainResult | undefined;
  let error: string | undefined;
  try {
    await train(spec, opts.data ?? cfg.data, {
      onEvent: (e) => {
        if (e.type === "result") result = e.data;
        if (e.type !== "epoch") return;
        epochs.push(e.data);
        if (opts.quiet) return;
        console.error(
          `${cfg.name} ${name} epoch ${e.data.epoch} (${e.data.phase}): ${
            e.data.seconds.toFixed(2)
          } s, train loss ${e.data.train_loss.toFixed(4)}`,
        );
      },
    });
  } catch (err) {
    if (!(err instanceof EngineError)) throw err;
    error = `${err.code}: ${err.message}`;
    console.error(`${cfg.name} ${name} stopped: ${error}`);
  }
  return {
    name,
    epochs,
    testAccuracy: testMetric(spec, result),
    counters: result && { ...result.counters },
    seconds_by_phase: result && { ...result.seconds_by_phase },
    error,
  };
}

/**
 * Runs every optimizer once, untimed, on a few batches for 2 epochs, so
 * that the first timed round does not pay for kernel setup and compilation.
 */
export async function warmUp(
  cfg: BenchConfig,
  names: readonly OptimizerName[],
): Promise<void> {
  const spec = specFor(cfg, "sgd");
  const n = Math.min(cfg.data.y.length, 3 * spec.batch_size);
  const data = { ...firstSamples(cfg.data, n), test: undefined };
  for (const name of names) {
    await runOptimizer(cfg, name, { quiet: true, data, epochs: 2 });
  }
}
