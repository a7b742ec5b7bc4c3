/**
 * `deno task bench [--epochs 3] [--limit N] [--backend wasm] [--rounds 2]
 * [--optimizers sgd,fngd,...] [--out FILE]`: the Fashion-MNIST MLP
 * comparison, with `tf.LayersModel.fit` (bench/mlp.ts); sgd and fngd also
 * run data-parallel on `--threads` (default: every core) and
 * `--batch-size` (default 128) sets the batch.
 *
 * `deno task bench --gram-memory [--batch 64] [--positions 64]`: the memory
 * of one Gram matrix per sequence site, in both forms (bench/gram_memory.ts).
 *
 * `deno task bench --config examples/resnet_fashion_mnist.json` (repeatable)
 * or `--suite examples|translation`: benchmarks job configs, each with sgd, adamw, fngd,
 * ngd and kfac at their defaults (bench/config_report.ts). `--epochs` and
 * `--limit` override the config's, `--test-limit N` keeps the first N test
 * samples (test BLEU decodes each one), `--val-bleu-rows N` decodes N
 * validation rows for val_bleu each epoch, `--lr sgd=0.01,...` replaces
 * learning rates (the report says so), `--seed N` replaces the config's seed; `--profile auto|always|never` adds a
 * step profile (auto: when the inverse-free target is missed or was not
 * measured); `--no-warmup` skips the untimed warm-up. One report per config and
 * backend under bench/results/ (`--results-dir`), with the command that
 * produced it.
 *
 * `deno task bench --suite convergence [--quick] [--tasks mlp,resnet,...]
 * [--seeds 3] [--optimizers ...]`: tunes every optimizer on each example
 * task, reruns the chosen settings on seeds, and reports time to target,
 * best at equal time and learning curves (bench/convergence.ts). `--quick`
 * checks every code path on synthetic data in seconds, in a temporary
 * directory unless `--results-dir` is given. `--jobs N` runs N trainings at
 * once, each in a child process on its own core (bench/trial_pool.ts).
 *
 * `deno task bench --suite service`: the service itself under large
 * binaries (bench/service.ts): the Fashion-MNIST upload's time, API memory
 * and /healthz latency, and an ~8.4M-parameter job on embedded PGlite
 * against real Postgres.
 *
 * `--wasm-dir DIR` points the wasm backend at its .wasm binaries, for a
 * bundled build (`deno bundle`) that has no node_modules.
 */
import { parseArgs } from "node:util";
import { fileURLToPath as fromFileUrl } from "node:url";
import { resolve } from "node:path";
import {
  BACKEND_NAMES,
  type BackendName,
  initBackend,
  OPTIMIZER_NAMES,
  type OptimizerName,
} from "../src/engine/mod.ts";
import { benchMlp } from "./mlp.ts";
import { loadBenchConfig, parseVariant } from "./config_bench.ts";
import { benchConfig } from "./config_report.ts";
import { benchGramMemory } from "./gram_memory.ts";
import { benchConvergence } from "./convergence.ts";
import { runTrialMain } from "./trial_pool.ts";
import { benchService } from "./service.ts";
import {
  FULL_GRID,
  OPTIMIZERS,
  QUICK_GRID,
  QUICK_OPTIMIZERS,
  QUICK_TASK,
  quickTask,
  TASKS,
} from "./convergence_tasks.ts";

/** Named groups of configs for `--suite`. */
const SUITES: Record<string, string[]> = {
  examples: [
    "examples/resnet_fashion_mnist.json",
    "examples/autoencoder_fashion_mnist.json",
  ],
  translation: ["examples/transformer_translation.json"],
};

const { values } = parseArgs({
  args: Deno.args,
  options: {
    epochs: { type: "string" },
    limit: { type: "string" },
    "test-limit": { type: "string" },
    "val-bleu-rows": { type: "string" },
    lr: { type: "string" },
    backend: { type: "string", default: "wasm" },
    optimizers: { type: "string" },
    rounds: { type: "string", default: "2" },
    threads: { type: "string" },
    "batch-size": { type: "string", default: "128" },
    out: { type: "string" },
    "results-dir": { type: "string" },
    config: { type: "string", multiple: true },
    suite: { type: "string" },
    profile: { type: "string", default: "auto" },
    "profile-batches": { type: "string", default: "10" },
    "no-warmup": { type: "boolean", default: false },
    "gram-memory": { type: "boolean", default: false },
    batch: { type: "string", default: "64" },
    positions: { type: "string", default: "64" },
    quick: { type: "boolean", default: false },
    tasks: { type: "string" },
    seeds: { type: "string" },
    jobs: { type: "string", default: "1" },
    seed: { type: "string" },
    "wasm-dir": { type: "string" },
    trial: { type: "string" },
    "trial-seed": { type: "string" },
    "trial-out": { type: "string" },
  },
});

function fail(message: string): never {
  console.error(`error: ${message}`);
  Deno.exit(2);
}

function positive(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    fail(`--${name} must be a positive integer, got ${v}`);
  }
  return n;
}

const backend = values.backend as BackendName;
if (!BACKEND_NAMES.includes(backend)) {
  fail(`--backend must be one of ${BACKEND_NAMES.join(", ")}`);
}
const epochs = positive("epochs", values.epochs);
const limit = positive("limit", values.limit);
const testLimit = positive("test-limit", values["test-limit"]);
const valBleuRows = positive("val-bleu-rows", values["val-bleu-rows"]);

/** `--lr sgd=0.01,ngd=0.01`: learning rates in place of the defaults. */
function parseLrs(
  v: string | undefined,
): Partial<Record<OptimizerName, number>> {
  const out: Partial<Record<OptimizerName, number>> = {};
  for (const part of v ? v.split(",") : []) {
    const [name, value] = part.split("=");
    const lr = Number(value);
    if (!OPTIMIZER_NAMES.includes(name as OptimizerName)) {
      fail(`--lr: unknown optimizer ${name}`);
    }
    if (!(lr > 0)) fail(`--lr: ${name} needs a positive number, got ${value}`);
    out[name as OptimizerName] = lr;
  }
  return out;
}
const lrs = parseLrs(values.lr);
const rounds = positive("rounds", values.rounds)!;
const command = `deno task bench ${Deno.args.join(" ")}`.trim();

const resultsDir = values["results-dir"] ?? "bench/results";
const convergence = values.suite === "convergence";
const service = values.suite === "service";
const configs = [...(values.config ?? [])];
if (values.suite !== undefined && !convergence && !service) {
  const suite = SUITES[values.suite];
  if (!suite) fail(`--suite must be one of ${Object.keys(SUITES).join(", ")}`);
  configs.push(...suite);
}
for (const path of configs) {
  try {
    await Deno.stat(path);
  } catch {
    fail(`config ${path} not found`);
  }
}
if (values.out && configs.length > 1) {
  fail("--out names one report; give it with a single --config");
}
const profile = values.profile as "auto" | "always" | "never";
if (!["auto", "always", "never"].includes(profile)) {
  fail("--profile must be auto, always or never");
}

// Absolute, because the wasm loader does not resolve paths against the cwd.
const wasmDir = values["wasm-dir"] && resolve(values["wasm-dir"]);
await initBackend(backend, { wasmDir });
if (values.trial !== undefined) {
  // A child of `--suite convergence --jobs N`: one run, its row to a file.
  if (configs.length !== 1 || !values["trial-out"]) {
    fail("--trial needs one --config and --trial-out");
  }
  const seed = values["trial-seed"];
  await runTrialMain({
    config: configs[0],
    variant: values.trial,
    seed: seed === undefined ? undefined : Number(seed),
    epochs,
    limit,
    testLimit,
    warmup: !values["no-warmup"],
    out: values["trial-out"],
  });
} else if (values["gram-memory"]) {
  await benchGramMemory({
    batch: positive("batch", values.batch)!,
    positions: positive("positions", values.positions)!,
    backend,
    command,
    resultsDir,
  });
} else if (convergence) {
  await runConvergence();
} else if (service) {
  await benchService({ backend, command, resultsDir });
} else if (!configs.length) {
  await benchMlp({
    epochs: epochs ?? 3,
    limit,
    backend,
    rounds,
    optimizers: values.optimizers ??
      "sgd,fngd,ngd,kfac,kfac:factor_every=10:inv_every=100,adamw",
    threads: positive("threads", values.threads) ??
      navigator.hardwareConcurrency,
    batchSize: positive("batch-size", values["batch-size"])!,
    command,
    out: values.out,
  });
} else {
  // Names or variants (`fngd:refresh=auto:refresh_threshold=0.05`).
  const optimizers = (values.optimizers ?? "sgd,adamw,fngd,ngd,kfac")
    .split(",");
  const unknown = optimizers.filter((label) =>
    !OPTIMIZER_NAMES.includes(parseVariant(label).name)
  );
  if (unknown.length) fail(`unknown optimizers: ${unknown.join(", ")}`);
  const written: string[] = [];
  for (const path of configs) {
    const cfg = await loadBenchConfig(path, {
      epochs,
      limit,
      testLimit,
      lrs,
      valBleuRows,
      seed: values.seed === undefined ? undefined : Number(values.seed),
    });
    written.push(
      await benchConfig(cfg, {
        backend,
        rounds,
        optimizers,
        profile,
        profileBatches: positive("profile-batches", values["profile-batches"])!,
        warmup: !values["no-warmup"],
        command,
        out: values.out,
        resultsDir,
      }),
    );
  }
  if (written.length > 1) console.error(`wrote ${written.join(", ")}`);
}

async function runConvergence(): Promise<void> {
  const quick = values.quick;
  const byKey = new Map(TASKS.map((t) => [t.key, t]));
  const keys = values.tasks?.split(",");
  const unknownTasks = keys?.filter((k) => !byKey.has(k)) ?? [];
  if (unknownTasks.length) {
    fail(
      `unknown tasks: ${unknownTasks.join(", ")} (known: ${
        [...byKey.keys()].join(", ")
      })`,
    );
  }
  let tasks = keys
    ? keys.map((k) => byKey.get(k)!).map((t) => quick ? quickTask(t) : t)
    : quick
    ? [QUICK_TASK]
    : [...TASKS];
  // --epochs, --limit and --test-limit override every task's.
  tasks = tasks.map((t) => ({
    ...t,
    epochs: epochs ?? t.epochs,
    limit: limit ?? t.limit,
    testLimit: testLimit ?? t.testLimit,
  }));
  const optimizers = values.optimizers?.split(",") ??
    [...(quick ? QUICK_OPTIMIZERS : OPTIMIZERS)];
  const unknown = optimizers.filter((label) =>
    !OPTIMIZER_NAMES.includes(parseVariant(label).name)
  );
  if (unknown.length) fail(`unknown optimizers: ${unknown.join(", ")}`);
  const jobs = positive("jobs", values.jobs)!;
  await benchConvergence({
    jobs,
    // A child runs this same entry point (source or bundle) on the same backend.
    childArgs: [
      "run",
      "--allow-all",
      fromFileUrl(Deno.mainModule),
      "--backend",
      backend,
      ...(wasmDir ? ["--wasm-dir", wasmDir] : []),
    ],
    backend,
    tasks,
    optimizers,
    grid: quick ? QUICK_GRID : FULL_GRID,
    seeds: positive("seeds", values.seeds) ?? (quick ? 2 : 3),
    warmup: !values["no-warmup"],
    quick,
    command,
    resultsDir: values["results-dir"] ??
      (quick ? await Deno.makeTempDir({ prefix: "convergence_" }) : resultsDir),
  });
}
