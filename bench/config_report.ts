/**
 * Benchmarks one config with every optimizer, interleaved across rounds, and
 * writes its report: seconds per epoch side by side, fngd's inversion and
 * inverse-free epochs as ratios to the sgd epoch, the final test metric, the
 * target and whether this run met it, and a step profile when it did not.
 */
import { dirname } from "node:path";
import {
  type BackendName,
  type EpochEventData,
  inferModelShapes,
  type OptimizerName,
} from "../src/engine/mod.ts";
import {
  type BenchConfig,
  runOptimizer,
  specFor,
  testMetricName,
  warmUp,
} from "./config_bench.ts";
import {
  epochSeconds,
  mean,
  meanSeconds,
  ratioText,
  type Row,
  RowSet,
  runLine,
  timingLines,
} from "./rows.ts";
import { profileLines, profileSteps } from "./step_profile.ts";

/** An inverse-free fngd epoch may take at most this many baseline epochs. */
export const INVERSE_FREE_TARGET = 1.1;

/**
 * The epoch the inverse-free target compares with: AdamW's for sequence
 * models (what Transformers are trained with), SGD's otherwise.
 */
function baselineOf(cfg: BenchConfig): OptimizerName {
  return specFor(cfg, "sgd").loss === "sequence_cross_entropy"
    ? "adamw"
    : "sgd";
}

export interface ConfigBenchOptions {
  backend: BackendName;
  rounds: number;
  /** Optimizer names or variants (config_bench.ts parseVariant). */
  optimizers: string[];
  /** Step profile: `auto` when the target is missed or not measured. */
  profile: "auto" | "always" | "never";
  /** Batches per epoch in the step profile. */
  profileBatches: number;
  warmup: boolean;
  command: string;
  /** Report path; default `<resultsDir>/<config>_<backend>.md`. */
  out?: string;
  resultsDir: string;
}

/** Runs the bench for `cfg`; prints and writes the report, returns its path. */
export async function benchConfig(
  cfg: BenchConfig,
  opts: ConfigBenchOptions,
): Promise<string> {
  if (opts.warmup) {
    console.error(`${cfg.name}: warm-up (2 epochs of 3 batches each)`);
    await warmUp(cfg, opts.optimizers);
  }
  const set = new RowSet();
  for (let round = 1; round <= opts.rounds; round++) {
    console.error(`${cfg.name}: round ${round} of ${opts.rounds}`);
    for (const name of opts.optimizers) {
      set.record(await runOptimizer(cfg, name), round);
    }
  }
  const base = set.byName(baselineOf(cfg));
  const fngd = set.byName("fngd");
  const ratio = meanSeconds(fngd, "inverse_free") / meanSeconds(base);
  const met = ratio <= INVERSE_FREE_TARGET;
  const lines = header(cfg, opts);
  lines.push(...results(cfg, set, opts.rounds));
  lines.push("", ...metricByEpochLines(set), ...stalenessLines(set));
  const wantProfile = opts.profile === "always" ||
    (opts.profile === "auto" && !met);
  const both = opts.optimizers.includes("sgd") &&
    opts.optimizers.includes("fngd");
  if (wantProfile && both) {
    console.error(`${cfg.name}: step profile (sgd and fngd)`);
    const base = await profileSteps(cfg, "sgd", opts.profileBatches);
    const other = await profileSteps(cfg, "fngd", opts.profileBatches);
    lines.push("", ...profileLines(base, other));
  }
  const report = lines.join("\n") + "\n";
  console.log(report);
  const stem = cfg.name === "fashion_mnist_mlp"
    ? `${cfg.name}_config`
    : cfg.name;
  const out = opts.out ?? `${opts.resultsDir}/${stem}_${opts.backend}.md`;
  await Deno.mkdir(dirname(out), { recursive: true });
  await Deno.writeTextFile(out, report);
  console.error(`wrote ${out}`);
  return out;
}

function header(cfg: BenchConfig, opts: ConfigBenchOptions): string[] {
  const spec = specFor(cfg, "sgd");
  const shapes = inferModelShapes(spec.model);
  const own = cfg.input.optimizer.name;
  const settings = opts.optimizers.map((n) => {
    const { name: _, ...fields } = specFor(cfg, n).optimizer;
    return `${n} ${JSON.stringify(fields)}`;
  });
  return [
    `# ${cfg.name}: ${spec.model.layers.length} layers, ${shapes.trainable.length} weight sites, batch ${spec.batch_size}, backend ${opts.backend}`,
    "",
    `Command: \`${opts.command}\``,
    runLine({
      samples: cfg.data.y.length,
      limit: cfg.limit,
      testLimit: cfg.testLimit,
      epochs: spec.epochs,
      rounds: opts.rounds,
    }),
    `Config: \`${cfg.path}\`; loss ${spec.loss}, target ${spec.target}, schedule ${
      JSON.stringify(spec.schedule)
    }, seed ${spec.seed}, validation_split ${spec.validation_split}${
      cfg.notes.length ? `; changed for the bench: ${cfg.notes.join(", ")}` : ""
    }.`,
    `Optimizers: the zod defaults of each spec, except ${own}, which keeps the config's fields: ${
      settings.join("; ")
    }.`,
    opts.warmup
      ? "Before round 1 every optimizer ran 2 untimed epochs of 3 batches (warm-up)."
      : "No warm-up: round 1 includes kernel setup.",
    "",
  ];
}

function results(cfg: BenchConfig, set: RowSet, rounds: number): string[] {
  const spec = specFor(cfg, "sgd");
  const metricName = `${testMetricName(spec)} after last epoch`;
  const metric = (r: Row) =>
    r.error
      ? `n/a (${r.error.split(":")[0]})`
      : r.testAccuracy?.toFixed(4) ?? "n/a";
  const sgd = set.byName("sgd");
  const fngd = set.byName("fngd");
  const baseName = baselineOf(cfg);
  const base = set.byName(baseName);
  const sgdEpoch = meanSeconds(sgd);
  const baseEpoch = meanSeconds(base);
  const inverseFree = meanSeconds(fngd, "inverse_free");
  const ratio = inverseFree / baseEpoch;
  const perRound = Array.from({ length: rounds }, (_, i) => {
    const f = epochSeconds(fngd, "inverse_free", i + 1);
    const s = epochSeconds(base, undefined, i + 1);
    return f.length && s.length ? mean(f) / mean(s) : NaN;
  }).filter(Number.isFinite);
  const verdict = !Number.isFinite(ratio)
    ? `not measured (needs ${baseName}, and fngd timed past its inversion epoch)`
    : ratio <= INVERSE_FREE_TARGET
    ? "met"
    : "missed";
  const lines = [
    `| optimizer | phase | epochs timed | s/epoch (mean) | min | max | x sgd epoch (means) | ${metricName} |`,
    "|---|---|---|---|---|---|---|---|",
    ...timingLines(set.rows, sgdEpoch, metric),
    "",
    `Target: an inverse-free fngd epoch at most ${
      INVERSE_FREE_TARGET.toFixed(2)
    }x an ${baseName} epoch: ${verdict}.`,
    `- fngd inverse_free epoch / ${baseName} epoch = ${
      ratioText(inverseFree, baseEpoch)
    } (per round: ${
      perRound.map((r) => r.toFixed(3)).join(", ") || "n/a"
    }; per epoch ${minMax(epochSeconds(fngd, "inverse_free"), baseEpoch)})`,
    ...(baseName === "sgd" ? [] : [
      `- fngd inverse_free epoch / sgd epoch = ${
        ratioText(inverseFree, sgdEpoch)
      }`,
    ]),
    `- fngd inversion epoch / ${baseName} epoch = ${
      ratioText(meanSeconds(fngd, "inversion"), baseEpoch)
    } (per epoch ${minMax(epochSeconds(fngd, "inversion"), baseEpoch)})`,
    "",
    "Counters (last round): " +
    set.rows.filter((r) => r.counters).map((r) =>
      `${r.name} ${JSON.stringify(r.counters)}`
    ).join("; "),
  ];
  for (const r of set.rows.filter((r) => r.error)) {
    lines.push(`- ${r.name} stopped early: ${r.error}`);
  }
  return lines;
}

/** `min-max` of `secs / base`, or n/a. */
function minMax(secs: number[], base: number): string {
  if (!secs.length || !Number.isFinite(base)) return "n/a";
  return `${(Math.min(...secs) / base).toFixed(3)}-${
    (Math.max(...secs) / base).toFixed(3)
  }`;
}

/** The validation metric of every row after each epoch (the last round). */
function metricByEpochLines(set: RowSet): string[] {
  const lastRound = (r: Row) =>
    r.epochs.filter((_, i) =>
      (r.rounds?.[i] ?? 0) === Math.max(0, ...(r.rounds ?? [0]))
    );
  const epochs = Math.max(0, ...set.rows.map((r) => lastRound(r).length));
  if (epochs === 0) return [];
  const value = (e: EpochEventData) =>
    e.val_bleu ?? e.val_reconstruction_error ?? e.val_accuracy;
  const name = set.rows.some((r) => r.epochs.some((e) => e.val_bleu != null))
    ? "val_bleu"
    : set.rows.some((r) =>
        r.epochs.some((e) => e.val_reconstruction_error != null)
      )
    ? "val_reconstruction_error"
    : "val_accuracy";
  const head = Array.from({ length: epochs }, (_, i) => `epoch ${i + 1}`);
  return [
    `Validation metric (${name}) after each epoch, last round:`,
    "",
    `| optimizer | ${head.join(" | ")} |`,
    `|---|${head.map(() => "---").join("|")}|`,
    ...set.rows.map((r) => {
      const cells = lastRound(r).map((e) => value(e)?.toFixed(4) ?? "n/a");
      while (cells.length < epochs) cells.push("-");
      return `| ${r.name} | ${cells.join(" | ")} |`;
    }),
    "",
  ];
}

/**
 * fngd's staleness per inverse-free epoch, averaged over layers: the probes'
 * cosine between the reused and the fresh direction (mean, and the worst
 * layer's mean), the Gram diagonal's relative change, the drift signal, and
 * auto's refreshes against the pairs it checked.
 */
function stalenessLines(set: RowSet): string[] {
  const rows = set.rows.filter((r) => r.staleness?.length);
  if (!rows.length) return [];
  const avg = (xs: (number | null)[]) => {
    const v = xs.filter((x): x is number => x !== null);
    return v.length
      ? (v.reduce((a, b) => a + b, 0) / v.length).toFixed(3)
      : "n/a";
  };
  const lines = [
    "Staleness of the reused coefficients (staleness events, last round; per layer, then averaged):",
    "",
    "| optimizer | epoch | cosine reused vs fresh (mean) | worst layer | Gram diagonal change | drift signal | refreshes / checked |",
    "|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    for (const s of r.staleness!) {
      const cos = s.layers.map((l) => l.cosine_mean);
      const worst = cos.filter((c): c is number => c !== null);
      const refreshes = s.layers.reduce((n, l) => n + l.refreshes, 0);
      const checked = s.layers.reduce((n, l) => n + l.checked, 0);
      lines.push(
        `| ${r.name} | ${s.epoch} | ${avg(cos)} | ${
          worst.length ? Math.min(...worst).toFixed(3) : "n/a"
        } | ${avg(s.layers.map((l) => l.diagonal_change_mean))} | ${
          avg(s.layers.map((l) => l.signal_mean))
        } | ${refreshes} / ${checked} |`,
      );
    }
  }
  return [...lines, ""];
}
