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
  type StalenessEventData,
  train,
  type TrainResult,
} from "../src/engine/mod.ts";
import { resolveDataset } from "../workers/resolve_dataset.ts";
import { formatIssues } from "../src/engine/format_issues.ts";
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
  /** Test samples kept (`--test-limit`), when fewer than the split's. */
  testLimit?: number;
  /** Learning rates that replace an optimizer's default or config value (`--lr`). */
  lrs?: Partial<Record<OptimizerName, number>>;
}

/**
 * An optimizer as the bench names it: a name, or a variant
 * `name:field=value:...` (e.g. `fngd:refresh=auto:refresh_threshold=0.05`)
 * whose fields replace the defaults (numbers where they parse as one).
 */
export function parseVariant(
  label: string,
): { name: OptimizerName; fields: Record<string, unknown> } {
  const [name, ...parts] = label.split(":");
  const fields: Record<string, unknown> = {};
  for (const part of parts) {
    const [key, value] = part.split("=");
    if (!key || value === undefined) {
      throw new Error(`optimizer variant ${label}: expected field=value`);
    }
    fields[key] = value !== "" && Number.isFinite(Number(value))
      ? Number(value)
      : value;
  }
  return { name: name as OptimizerName, fields };
}

/** The config's job spec with `label`'s optimizer in place of the config's optimizer. */
export function specFor(cfg: BenchConfig, label: string): JobSpec {
  const { name, fields } = parseVariant(label);
  const own = cfg.input.optimizer;
  const base = own.name === name ? own : { name };
  const lr = cfg.lrs?.[name];
  return JobSpec.parse({
    ...cfg.input,
    optimizer: { ...base, ...(lr === undefined ? {} : { lr }), ...fields },
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

/**
 * The first `limit` training samples (token rows and masks too, for
 * sequences) and the first `testLimit` test samples (their text pairs too).
 */
export function firstSamples(
  data: Dataset,
  limit: number | undefined,
  testLimit?: number,
): Dataset {
  const width = data.sampleShape.reduce((a, b) => a * b, 1);
  const out = { ...data };
  if (limit !== undefined && limit < data.y.length) {
    out.x = data.x.subarray(0, limit * width);
    out.y = data.y.subarray(0, limit);
    if (data.sequences) {
      out.sequences = {
        ...data.sequences,
        tokens: data.sequences.tokens.subarray(0, limit * width),
        targetMask: data.sequences.targetMask.subarray(0, limit * width),
      };
    }
  }
  if (testLimit !== undefined && data.test && testLimit < data.test.y.length) {
    out.test = {
      x: data.test.x.subarray(0, testLimit * width),
      y: data.test.y.subarray(0, testLimit),
    };
    const seqTest = out.sequences?.test;
    if (out.sequences && seqTest) {
      out.sequences = {
        ...out.sequences,
        test: {
          tokens: seqTest.tokens.subarray(0, testLimit * width),
          targetMask: seqTest.targetMask.subarray(0, testLimit * width),
          pairs: seqTest.pairs.slice(0, testLimit),
        },
      };
    }
  }
  return out;
}

/** Reads, validates and adapts a config, and loads its dataset. */
export async function loadBenchConfig(
  path: string,
  overrides: {
    epochs?: number;
    limit?: number;
    testLimit?: number;
    lrs?: Partial<Record<OptimizerName, number>>;
    valBleuRows?: number;
    /** Replaces the config's seed (initial weights, shuffling and the validation split). */
    seed?: number;
  },
): Promise<BenchConfig> {
  const raw = JSON.parse(await Deno.readTextFile(path));
  const input = { ...raw } as Record<string, unknown>;
  const notes: string[] = [];
  if (overrides.epochs !== undefined) {
    notes.push(`epochs ${raw.epochs ?? "(default)"} -> ${overrides.epochs}`);
    input.epochs = overrides.epochs;
    notes.push(...fitSchedule(input, overrides.epochs));
  }
  if (overrides.seed !== undefined) {
    notes.push(`seed ${raw.seed ?? "(default)"} -> ${overrides.seed}`);
    input.seed = overrides.seed;
  }
  if (overrides.valBleuRows !== undefined) {
    notes.push(`val_bleu_rows ${overrides.valBleuRows}`);
    input.val_bleu_rows = overrides.valBleuRows;
  }
  for (const [name, lr] of Object.entries(overrides.lrs ?? {})) {
    notes.push(`${name} lr ${lr} (--lr)`);
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
    data: firstSamples(full, overrides.limit, overrides.testLimit),
    limit: overrides.limit,
    testLimit: overrides.testLimit,
    lrs: overrides.lrs,
  };
}

/** What {@link testMetric} reports for `spec`, as a table heading. */
export function testMetricName(spec: JobSpec): string {
  if (spec.loss === "sequence_cross_entropy") return "test BLEU";
  return spec.target === "input"
    ? "test reconstruction error"
    : "test accuracy";
}

/** Test BLEU for sequences, test reconstruction error for autoencoders, else test accuracy. */
export function testMetric(
  spec: JobSpec,
  result: TrainResult | undefined,
): number | undefined {
  if (spec.loss === "sequence_cross_entropy") return result?.final.test_bleu;
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
  name: string,
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
  const staleness: StalenessEventData[] = [];
  let result: TrainResult | undefined;
  let error: string | undefined;
  try {
    await train(spec, opts.data ?? cfg.data, {
      onEvent: (e) => {
        if (e.type === "result") result = e.data;
        if (e.type === "staleness") staleness.push(e.data);
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
    staleness,
    error,
  };
}

/**
 * Runs every optimizer once, untimed, on a few batches for 2 epochs, so
 * that the first timed round does not pay for kernel setup and compilation.
 */
export async function warmUp(
  cfg: BenchConfig,
  names: readonly string[],
): Promise<void> {
  const spec = specFor(cfg, "sgd");
  const n = Math.min(cfg.data.y.length, 3 * spec.batch_size);
  const few = firstSamples(cfg.data, n);
  const data: Dataset = {
    ...few,
    test: undefined,
    sequences: few.sequences && { ...few.sequences, test: undefined },
  };
  for (const name of names) {
    await runOptimizer(cfg, name, { quiet: true, data, epochs: 2 });
  }
}
