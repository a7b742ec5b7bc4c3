/**
 * The default bench: the Fashion-MNIST MLP 784-256-128-10 (batch 128) with
 * every optimizer, at tuned settings, and with `tf.LayersModel.fit`, all in
 * one process, printing seconds per epoch side by side with the ratios the
 * product promises: inverse-free FNGD epoch / SGD epoch, inversion epoch /
 * SGD epoch, fit epoch / our SGD epoch, and each K-FAC variant's epoch /
 * the inverse-free FNGD epoch (`kfac:factor_every=10:inv_every=100` is
 * K-FAC amortised as kfac-pytorch does it).
 *
 * The machine is noisy, so the whole list runs `rounds` times interleaved
 * (sgd, fngd, ..., fit, sgd, fngd, ...) and each row averages all its epochs;
 * test accuracy is from the last round (every round trains the same seeds).
 * The engine's rows also time every step, and the targets are given again
 * as ratios of median steps, which bursts of load move much less.
 */
import * as tf from "@tensorflow/tfjs";
import {
  type BackendName,
  type Dataset,
  type EpochEventData,
  JobSpec,
  type OptimizerSpec,
  train,
} from "../src/engine/mod.ts";
import { resolveDataset } from "../workers/resolve_dataset.ts";
import { splitData } from "../src/engine/batches.ts";
import { firstSamples, parseVariant } from "./config_bench.ts";
import {
  meanSeconds,
  medianStepMs,
  ratioText,
  type Row,
  RowSet,
  runLine,
  timingLines,
} from "./rows.ts";

export interface MlpBenchOptions {
  epochs: number;
  limit?: number;
  backend: BackendName;
  rounds: number;
  /** Comma-separated optimizer names. */
  optimizers: string;
  /** sgd and fngd run again on this many threads (data-parallel) when above 1. */
  threads: number;
  batchSize: number;
  /** The command line for the report. */
  command: string;
  out?: string;
}

const OPTIMIZERS: Record<string, OptimizerSpec> = {
  sgd: {
    name: "sgd",
    lr: 0.05,
    momentum: 0.9,
    nesterov: false,
    weight_decay: 0.0005,
  },
  fngd: {
    name: "fngd",
    lr: 0.05,
    momentum: 0.9,
    nesterov: false,
    weight_decay: 0.0005,
    damping: 1,
    refresh: "never",
    refresh_threshold: 0.5,
    staleness_samples: 2,
  },
  ngd: {
    name: "ngd",
    lr: 0.05,
    momentum: 0.9,
    nesterov: false,
    weight_decay: 0.0005,
    damping: 1,
  },
  kfac: {
    name: "kfac",
    lr: 0.01,
    momentum: 0.9,
    weight_decay: 0.0005,
    damping: 0.01,
    factor_decay: 0.95,
    inv_every: 20,
    factor_every: 1,
  },
  adamw: {
    name: "adamw",
    lr: 0.001,
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 1e-8,
    weight_decay: 0.01,
  },
};

function specWith(
  optimizer: OptimizerSpec,
  epochs: number,
  batchSize: number,
): JobSpec {
  return JobSpec.parse({
    model: {
      input_shape: [784],
      layers: [
        { type: "dense", units: 256, activation: "relu" },
        { type: "dense", units: 128, activation: "relu" },
        { type: "dense", units: 10 },
      ],
    },
    dataset: { name: "fashion-mnist" },
    optimizer,
    epochs,
    batch_size: batchSize,
    seed: 42,
    validation_split: 0.1,
  });
}

/** A name of {@link OPTIMIZERS}, or a variant of one (`kfac:factor_every=10`). */
function optimizerFor(label: string): OptimizerSpec {
  const { name, fields } = parseVariant(label);
  const base = OPTIMIZERS[name];
  if (!base) throw new Error(`unknown optimizer ${label}`);
  return { ...base, ...fields } as OptimizerSpec;
}

/** The row name of `name` on `threads` threads: `sgd`, or `sgd@2`. */
function threadedName(name: string, threads: number): string {
  return threads > 1 ? `${name}@${threads}` : name;
}

async function runEngine(
  label: string,
  data: Dataset,
  epochs: number,
  batchSize: number,
  threads = 1,
): Promise<Row> {
  const epochsSeen: EpochEventData[] = [];
  const stepMs: Record<string, number[]> = {};
  let lastStep: { epoch: number; step: number; at: number } | undefined;
  const name = threadedName(label, threads);
  const spec = specWith(optimizerFor(label), epochs, batchSize);
  const result = await train(spec, data, {
    threads,
    // Every step reports, so that steps can be timed one by one: a median
    // step shrugs off the bursts of a noisy machine that move epoch means.
    stepEventIntervalMs: 0,
    onEvent: (e) => {
      if (e.type === "step") {
        const at = performance.now();
        const { epoch, step, phase } = e.data;
        if (lastStep?.epoch === epoch && lastStep.step === step - 1) {
          (stepMs[phase] ??= []).push(at - lastStep.at);
        }
        lastStep = { epoch, step, at };
      }
      if (e.type === "epoch") {
        epochsSeen.push(e.data);
        console.error(
          `${name} epoch ${e.data.epoch} (${e.data.phase}): ${
            e.data.seconds.toFixed(2)
          } s`,
        );
      }
    },
  });
  return {
    name,
    epochs: epochsSeen,
    testAccuracy: result.final.test_accuracy,
    counters: { ...result.counters },
    stepMs,
  };
}

/** The same MLP and data through tf.LayersModel.fit, SGD with momentum. */
async function runFit(
  data: Dataset,
  epochs: number,
  batchSize: number,
): Promise<Row> {
  const spec = specWith(OPTIMIZERS.sgd, epochs, batchSize);
  const split = splitData(data, spec, [784], 10);
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [784], units: 256, activation: "relu" }),
      tf.layers.dense({ units: 128, activation: "relu" }),
      tf.layers.dense({ units: 10 }),
    ],
  });
  model.compile({
    optimizer: tf.train.momentum(0.05, 0.9),
    loss: (y: tf.Tensor, p: tf.Tensor) => tf.losses.softmaxCrossEntropy(y, p),
  });
  const x = tf.tensor2d(split.train.x, [split.train.count, 784]);
  const y = tf.tensor2d(split.train.targets!, [split.train.count, 10]);
  const rows: EpochEventData[] = [];
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const t0 = performance.now();
    const h = await model.fit(x, y, {
      batchSize,
      epochs: 1,
      shuffle: true,
      verbose: 0,
    });
    const seconds = (performance.now() - t0) / 1000;
    console.error(`fit epoch ${epoch}: ${seconds.toFixed(2)} s`);
    rows.push({
      epoch,
      phase: "train",
      steps: Math.ceil(split.train.count / batchSize),
      seconds,
      train_loss: h.history.loss[0] as number,
      val_loss: null,
      val_accuracy: null,
      lr: 0.05,
    });
  }
  let testAccuracy: number | undefined;
  if (split.test) {
    const accuracy = tf.tidy(() => {
      const tx = tf.tensor2d(split.test!.x, [split.test!.count, 784]);
      const labels = tf.tensor2d(split.test!.targets!, [split.test!.count, 10])
        .argMax(1);
      const pred = (model.predict(tx) as tf.Tensor).argMax(1);
      return tf.mean(tf.cast(tf.equal(pred, labels), "float32"));
    });
    // An asynchronous read: webgpu cannot read synchronously under Deno.
    testAccuracy = (await accuracy.data())[0];
    accuracy.dispose();
  }
  x.dispose();
  y.dispose();
  model.dispose();
  return { name: "tf.LayersModel.fit (sgd)", epochs: rows, testAccuracy };
}

/** Runs the MLP comparison; prints and writes the report, returns its path. */
export async function benchMlp(opts: MlpBenchOptions): Promise<string> {
  const { epochs, limit, backend, rounds } = opts;
  const full = await resolveDataset({ name: "fashion-mnist", limit });
  const names = opts.optimizers.split(",");
  // Untimed: the first run of the process would otherwise pay for JIT
  // compilation and kernel setup, and sgd runs first.
  const few = firstSamples(full, Math.ceil((3 * opts.batchSize) / 0.9));
  console.error("warm-up (2 epochs of 3 batches each)");
  for (const name of names) await runEngine(name, few, 2, opts.batchSize);
  const set = new RowSet();
  for (let round = 1; round <= rounds; round++) {
    console.error(`round ${round} of ${rounds}`);
    for (const name of names) {
      set.record(await runEngine(name, full, epochs, opts.batchSize));
      if (opts.threads > 1 && (name === "sgd" || name === "fngd")) {
        set.record(
          await runEngine(name, full, epochs, opts.batchSize, opts.threads),
        );
      }
    }
    set.record(await runFit(full, epochs, opts.batchSize));
  }

  const rows = set.rows;
  const byName = (n: string) => set.byName(n);
  const sgdEpoch = meanSeconds(byName("sgd"));
  const ratio = (x: number) =>
    Number.isFinite(x / sgdEpoch) ? (x / sgdEpoch).toFixed(3) : "n/a";
  const lines = [
    `# Fashion-MNIST MLP 784-256-128-10, batch ${opts.batchSize}, backend ${backend}`,
    "",
    `Command: \`${opts.command}\``,
    runLine({ samples: full.y.length, limit, epochs, rounds }),
    "Before round 1 every engine optimizer ran 2 untimed epochs of 3 batches (warm-up).",
    "",
    "| optimizer | phase | epochs timed | s/epoch (mean) | min | max | x sgd epoch (means) | test accuracy after last epoch |",
    "|---|---|---|---|---|---|---|---|",
    ...timingLines(rows, sgdEpoch, (r) => r.testAccuracy?.toFixed(4) ?? "n/a"),
  ];
  const fngd = byName("fngd");
  const fit = byName("tf.LayersModel.fit (sgd)");
  lines.push(
    "",
    "Targets (ratios from this one run):",
    `- fngd inverse_free epoch / sgd epoch = ${
      ratio(meanSeconds(fngd, "inverse_free"))
    } (target <= 1.05)`,
    `- fngd inversion epoch / sgd epoch = ${
      ratio(meanSeconds(fngd, "inversion"))
    } (target <= 1.25)`,
    `- tf.LayersModel.fit epoch / our sgd epoch = ${
      (meanSeconds(fit) / sgdEpoch).toFixed(3)
    } (target >= 2)`,
    ...threadLines(opts.threads, byName),
    ...stepMedianLines(opts.threads, byName),
    ...rows.filter((r) => r.name.split(":")[0] === "kfac").map((r) =>
      `- ${r.name} epoch / fngd inverse_free epoch = ${
        ratioText(meanSeconds(r), meanSeconds(fngd, "inverse_free"))
      } (the paper: 2.05 on a GPU)`
    ),
    "",
    "Counters: " +
      rows.filter((r) => r.counters).map((r) =>
        `${r.name} ${JSON.stringify(r.counters)}`
      ).join("; "),
  );
  const report = lines.join("\n") + "\n";
  console.log(report);
  const out = opts.out ?? `bench/results/fashion_mnist_mlp_${backend}.md`;
  await Deno.mkdir("bench/results", { recursive: true });
  await Deno.writeTextFile(out, report);
  console.error(`wrote ${out}`);
  return out;
}

/**
 * The same targets from median steps: each phase's median step over SGD's,
 * and on `threads` threads over one. Epoch means move with the machine's
 * bursts (the same command has differed by 0.2 an hour apart); medians of
 * hundreds of steps much less.
 */
function stepMedianLines(
  threads: number,
  byName: (n: string) => Row | undefined,
): string[] {
  const sgd = medianStepMs(byName("sgd"), "train");
  if (!Number.isFinite(sgd)) return [];
  const fngd = byName("fngd");
  const lines = [
    "",
    `Median steps (ms; sgd ${sgd.toFixed(2)}):`,
    ...(["inverse_free", "inversion"] as const).map((phase) =>
      `- fngd ${phase} step / sgd step = ${
        ratioText(medianStepMs(fngd, phase), sgd)
      } (${medianStepMs(fngd, phase).toFixed(2)} ms; target <= ${
        phase === "inversion" ? "1.25" : "1.05"
      })`
    ),
  ];
  if (threads <= 1) return lines;
  const phases = [["sgd", "train"], ["fngd", "inversion"], [
    "fngd",
    "inverse_free",
  ]] as const;
  return [
    ...lines,
    ...phases.flatMap(([name, phase]) => {
      const one = medianStepMs(byName(name), phase);
      const many = medianStepMs(byName(threadedName(name, threads)), phase);
      if (!Number.isFinite(one) || !Number.isFinite(many)) return [];
      return [
        `- ${name} ${phase} step on ${threads} threads / on 1 = ${
          ratioText(many, one)
        } (target <= 0.6)`,
      ];
    }),
  ];
}

/**
 * Data-parallel speed-ups: each phase's epoch on `threads` threads over its
 * epoch on one (the target: <= 0.6 on two cores).
 */
function threadLines(
  threads: number,
  byName: (n: string) => Row | undefined,
): string[] {
  if (threads <= 1) return [];
  const phases = [["sgd", "train"], ["fngd", "inversion"], [
    "fngd",
    "inverse_free",
  ]] as const;
  return phases.flatMap(([name, phase]) => {
    const one = byName(name), many = byName(threadedName(name, threads));
    if (!one || !many) return [];
    return [
      `- ${name} ${phase} epoch on ${threads} threads / on 1 = ${
        ratioText(meanSeconds(many, phase), meanSeconds(one, phase))
      } (target <= 0.6)`,
    ];
  });
}
