/**
 * Benchmarks one config with every optimizer, interleaved across rounds, and
 * writes its report: seconds per epoch side by side, fngd's inversion and
 * inverse-free epochs as ratios to the sgd epoch, the final test metric, the
 * target and whether this run met it, and a step profile when it did not.
 */
import { dirname } from "node:path";
import {
  type BackendName,
  inferModelShapes,
  type OptimizerName,
} from "../src/engine/mod.ts";
import {
  type BenchConfig,
  runOptimizer,
  specFor,
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

/** An inverse-free fngd epoch may take at most this many sgd epochs. */
export const INVERSE_FREE_TARGET = 1.1;

export interface ConfigBenchOptions {
  backend: BackendName;
  rounds: number;
  optimizers: OptimizerName[];
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
  const sgd = set.byName("sgd");
  const fngd = set.byName("fngd");
  const ratio = meanSeconds(fngd, "inverse_free") / meanSeconds(sgd);
  const met = ratio <= INVERSE_FREE_TARGET;
  const lines = header(cfg, opts);
  lines.push(...results(cfg, set, opts.rounds));
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
  const autoencoder = spec.target === "input";
  const metricName = autoencoder
    ? "test reconstruction error after last epoch"
    : "test accuracy after last epoch";
  const metric = (r: Row) =>
    r.error
      ? `n/a (${r.error.split(":")[0]})`
      : r.testAccuracy?.toFixed(4) ?? "n/a";
  const sgd = set.byName("sgd");
  const fngd = set.byName("fngd");
  const sgdEpoch = meanSeconds(sgd);
  const inverseFree = meanSeconds(fngd, "inverse_free");
  const ratio = inverseFree / sgdEpoch;
  const perRound = Array.from({ length: rounds }, (_, i) => {
    const f = epochSeconds(fngd, "inverse_free", i + 1);
    const s = epochSeconds(sgd, undefined, i + 1);
    return f.length && s.length ? mean(f) / mean(s) : NaN;
  }).filter(Number.isFinite);
  const verdict = !Number.isFinite(ratio)
    ? "not measured (needs sgd, and fngd timed past its inversion epoch)"
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
    }x an sgd epoch: ${verdict}.`,
    `- fngd inverse_free epoch / sgd epoch = ${
      ratioText(inverseFree, sgdEpoch)
    } (per round: ${
      perRound.map((r) => r.toFixed(3)).join(", ") || "n/a"
    }; per epoch ${minMax(epochSeconds(fngd, "inverse_free"), sgdEpoch)})`,
    `- fngd inversion epoch / sgd epoch = ${
      ratioText(meanSeconds(fngd, "inversion"), sgdEpoch)
    } (per epoch ${minMax(epochSeconds(fngd, "inversion"), sgdEpoch)})`,
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
