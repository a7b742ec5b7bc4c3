/**
 * Losses, targets and activations: per-sample loss values against float64
 * arithmetic, the autoencoder task end to end (validation, metrics, export),
 * and the sigmoid and gelu activations against their formulas and tfjs-layers.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  assessJob,
  EngineError,
  initBackend,
  JobSpec,
  type JobSpecInput,
  type ModelArtifacts,
  train,
} from "../src/engine/mod.ts";
import { perSampleLoss } from "../src/engine/loss.ts";
import { SequentialModel } from "../src/engine/model.ts";
import { makeSyntheticDataset } from "../src/engine/data/mod.ts";
import { dataFor, specFor, trainRecording } from "./_engine.ts";

const LOGITS = [[2.5, -1, 0], [-30, 40, 0.5]];
const TARGETS = [[1, 0, 0.25], [0, 1, 0.5]];

/** Per-sample losses in float64, each a sum over units. */
const REFERENCE = {
  softmax_cross_entropy: (z: number[], t: number[]) => {
    const max = Math.max(...z);
    const lse = max + Math.log(z.reduce((s, v) => s + Math.exp(v - max), 0));
    return t.reduce((s, ti, j) => s - ti * (z[j] - lse), 0);
  },
  sigmoid_cross_entropy: (z: number[], t: number[]) =>
    z.reduce((s, zj, j) => {
      const p = 1 / (1 + Math.exp(-zj));
      // -t log p - (1 - t) log(1 - p), with log(1 - p) = log p - z.
      const logP = -Math.log1p(Math.exp(-zj));
      const logQ = zj > 0 ? -zj - Math.log1p(Math.exp(-zj)) : Math.log(1 - p);
      return s - t[j] * logP - (1 - t[j]) * logQ;
    }, 0),
  mse: (z: number[], t: number[]) =>
    z.reduce((s, zj, j) => s + (zj - t[j]) ** 2, 0),
} as const;

Deno.test("each loss is a per-sample sum over units, matching float64 arithmetic", async (t) => {
  await initBackend("wasm");
  for (const name of Object.keys(REFERENCE) as (keyof typeof REFERENCE)[]) {
    await t.step(name, () => {
      const got = tf.tidy(() =>
        perSampleLoss(name, tf.tensor2d(LOGITS), tf.tensor2d(TARGETS))
          .arraySync()
      );
      LOGITS.forEach((z, i) => {
        const want = REFERENCE[name](z, TARGETS[i]);
        assert.ok(
          Math.abs(got[i] - want) <= 1e-5 * Math.max(1, Math.abs(want)),
          `sample ${i}: ${got[i]} vs ${want}`,
        );
      });
    });
  }
  await t.step(
    "sigmoid cross-entropy's gradient is sigmoid(z) - t, at z = 0 too",
    () => {
      const z = [0, 3, -50, 50];
      const target = [0.25, 1, 0, 1];
      const grad = tf.tidy(() =>
        tf.grad((x: tf.Tensor) =>
          tf.sum(
            perSampleLoss(
              "sigmoid_cross_entropy",
              x as tf.Tensor2D,
              tf.tensor2d([target]),
            ),
          )
        )(tf.tensor2d([z])).arraySync() as number[][]
      );
      z.forEach((v, j) => {
        const want = 1 / (1 + Math.exp(-v)) - target[j];
        assert.ok(
          Math.abs(grad[0][j] - want) < 1e-6,
          `${grad[0][j]} vs ${want}`,
        );
      });
    },
  );
});

Deno.test("autoencoder specs are validated before training, naming the JSON path", async (t) => {
  await initBackend("wasm");
  const base = {
    model: {
      input_shape: [12],
      layers: [{ type: "dense", units: 4, activation: "tanh" }, {
        type: "dense",
        units: 12,
      }],
    },
    dataset: { name: "synthetic", samples: 64, features: 12, classes: 4 },
    optimizer: { name: "sgd" },
    target: "input",
  } satisfies JobSpecInput;
  const issues = (input: unknown) =>
    JobSpec.safeParse(input).error?.issues.map((i) => ({
      path: i.path,
      message: i.message,
    }));
  await t.step("target input with softmax cross-entropy", () => {
    const found = issues(base);
    assert.equal(found?.length, 1);
    assert.deepEqual(found[0].path, ["loss"]);
    assert.match(found[0].message, /sigmoid_cross_entropy or mse/);
  });
  await t.step("a last layer that does not match the input size", () => {
    const found = issues({
      ...base,
      loss: "mse",
      model: {
        ...base.model,
        layers: [base.model.layers[0], { type: "dense", units: 10 }],
      },
    });
    assert.deepEqual(found?.map((i) => i.path), [[
      "model",
      "layers",
      1,
      "units",
    ]]);
    assert.match(found![0].message, /needs 12 units .* got 10/);
  });
  await t.step(
    "sigmoid cross-entropy on Gaussian synthetic inputs, at admission",
    () => {
      const spec = JobSpec.parse({ ...base, loss: "sigmoid_cross_entropy" });
      assert.throws(
        () => assessJob(spec),
        (e) =>
          e instanceof EngineError && e.code === "invalid_spec" &&
          JSON.stringify(e.path) === '["loss"]' &&
          /needs inputs in \[0, 1\]/.test(e.message),
      );
      // mse takes any inputs; named image datasets are in [0, 1].
      assessJob(JobSpec.parse({ ...base, loss: "mse" }));
      assessJob(JobSpec.parse({
        ...base,
        loss: "sigmoid_cross_entropy",
        model: {
          input_shape: [28, 28, 1],
          layers: [{ type: "flatten" }, { type: "dense", units: 784 }],
        },
        dataset: { name: "fashion-mnist", limit: 100 },
      }));
    },
  );
  await t.step(
    "sigmoid cross-entropy on loaded inputs outside [0, 1]",
    async () => {
      const spec = JobSpec.parse({ ...base, loss: "sigmoid_cross_entropy" });
      const data = makeSyntheticDataset(
        spec.dataset as Parameters<typeof makeSyntheticDataset>[0],
      );
      await assert.rejects(
        train(spec, data),
        (e) =>
          e instanceof EngineError && e.code === "invalid_spec" &&
          JSON.stringify(e.path) === '["loss"]' &&
          /inputs range over \[-\d/.test(e.message),
      );
    },
  );
  await t.step("an autoencoder ignores the classes", () => {
    // 12 output units, 20 classes: fine when the target is the input.
    assessJob(JobSpec.parse({
      ...base,
      loss: "mse",
      dataset: { ...base.dataset, classes: 20 },
    }));
  });
});

/** Reloads exported artifacts with tf.loadLayersModel. */
function reload(artifacts: ModelArtifacts): Promise<tf.LayersModel> {
  const manifest = artifacts.modelJson.weightsManifest as {
    weights: tf.io.WeightsManifestEntry[];
  }[];
  return tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: artifacts.modelJson
      .modelTopology as tf.io.ModelJSON["modelTopology"],
    weightSpecs: manifest[0].weights,
    weightData: artifacts.weightData.slice().buffer,
  }));
}

for (const kind of ["ae_sigmoid", "ae_mse"] as const) {
  Deno.test(`an autoencoder (${kind}) learns and reports reconstruction error, not accuracy`, async () => {
    await initBackend("wasm");
    const base = specFor(kind, { name: "fngd", lr: 0.02, damping: 0.5 }, {
      epochs: 8,
    });
    const spec = JobSpec.parse({
      ...base,
      dataset: { ...base.dataset, test_samples: 32 },
    });
    let artifacts: ModelArtifacts | undefined;
    const { events, result } = await trainRecording(spec, {
      saveModel: (a) => Promise.resolve(void (artifacts = a)),
    });
    const epochs = events.flatMap((e) => e.type === "epoch" ? [e.data] : []);
    for (const e of epochs) {
      assert.equal(e.val_accuracy, null);
      assert.ok(e.val_reconstruction_error! > 0);
    }
    const first = epochs[0].val_reconstruction_error!;
    const last = epochs.at(-1)!.val_reconstruction_error!;
    assert.ok(last < 0.8 * first, `reconstruction error ${first} -> ${last}`);
    if (kind === "ae_mse") {
      // For mse the reconstruction error is the loss itself.
      const e = epochs.at(-1)!;
      assert.ok(Math.abs(e.val_reconstruction_error! - e.val_loss!) < 1e-5);
    }
    assert.equal(result.final.test_accuracy, undefined);
    assert.equal(result.final.val_accuracy, null);
    assert.equal(result.final.val_reconstruction_error, last);

    // The export ends in a sigmoid for sigmoid cross-entropy, so it predicts
    // the reconstruction itself, and reproduces the reported test error.
    const model = await reload(artifacts!);
    const layers = model.layers.map((l) => l.getClassName());
    assert.equal(layers.at(-1), kind === "ae_sigmoid" ? "Activation" : "Dense");
    const data = dataFor(spec);
    const n = data.test!.y.length;
    const error = tf.tidy(() => {
      const x = tf.tensor2d(data.test!.x, [n, 12]);
      const predicted = model.predict(x) as tf.Tensor;
      return tf.sum(tf.squaredDifference(predicted, x)).dataSync()[0] / n;
    });
    assert.equal(error, result.final.test_reconstruction_error);
    model.dispose();
  });
}

Deno.test("classification events keep DESIGN's fields, with no reconstruction error", async () => {
  await initBackend("wasm");
  const { events, result } = await trainRecording(
    specFor("dense", { name: "sgd", lr: 0.05 }, { epochs: 1 }),
  );
  const epoch = events.find((e) => e.type === "epoch")!.data;
  assert.ok(!("val_reconstruction_error" in epoch));
  assert.ok(!("val_reconstruction_error" in result.final));
  assert.ok(typeof result.final.val_accuracy === "number");
});

Deno.test("sigmoid and gelu match their formulas, and tfjs-layers reproduces them exactly", async () => {
  await initBackend("wasm");
  const spec = JobSpec.parse({
    ...specFor("dense", { name: "sgd", lr: 0.2 }, { epochs: 6 }),
    model: {
      input_shape: [12],
      layers: [
        { type: "dense", units: 8, activation: "gelu" },
        { type: "dense", units: 6, activation: "sigmoid" },
        { type: "dense", units: 4 },
      ],
    },
  });
  let artifacts: ModelArtifacts | undefined;
  const result = await train(spec, dataFor(spec), {
    saveModel: (a) => Promise.resolve(void (artifacts = a)),
  });
  assert.ok(result.final.val_accuracy! > 0.6);
  const topology = JSON.stringify(artifacts!.modelJson.modelTopology);
  assert.match(topology, /"activation":"gelu"/);
  assert.match(topology, /"activation":"sigmoid"/);

  // Our forward pass and the reloaded model agree bit for bit.
  const ours = new SequentialModel(spec.model, 1);
  const loaded = await reload(artifacts!);
  ours.layers.forEach((_, i) => {
    const w = loaded.layers[i].getWeights();
    ours.trainable[i].kernel.assign(w[0] as tf.Tensor2D);
    ours.trainable[i].bias!.assign(w[1] as tf.Tensor1D);
  });
  const data = dataFor(spec);
  const [a, b] = tf.tidy(() => {
    const x = tf.tensor2d(data.x, [data.y.length, 12]);
    return [
      ours.forward(x).dataSync(),
      (loaded.predict(x) as tf.Tensor).dataSync(),
    ];
  });
  assert.deepEqual(Array.from(a), Array.from(b));
  ours.dispose();
  loaded.dispose();

  // gelu is the exact x Phi(x) (erf), not the tanh approximation.
  const values = tf.tidy(() => {
    const probe = JobSpec.shape.model.parse({
      input_shape: [3],
      layers: [{ type: "dense", units: 3, activation: "gelu" }],
    });
    const m = new SequentialModel(probe, 1);
    m.trainable[0].kernel.assign(tf.eye(3) as tf.Tensor2D);
    const out = m.forward(tf.tensor2d([[1, -0.5, 3]])).dataSync();
    m.dispose();
    return out;
  });
  // x Phi(x) in float64 (Python's math.erf); the tanh form is 1.5e-4 off at 1.
  const want = [0.8413447460685429, -0.15426876936299344, 2.99595030590511];
  want.forEach((v, i) => assert.ok(Math.abs(values[i] - v) < 1e-6));
});
