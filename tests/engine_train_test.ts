/** The trainer's behaviour: learning, memory, export, cancellation, errors. */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  type Checkpoint,
  EngineError,
  initBackend,
  JobSpec,
  MemoryCoefficientStore,
  type ModelArtifacts,
  OPTIMIZER_NAMES,
  train,
} from "../src/engine/mod.ts";
import { makeSyntheticDataset } from "../src/engine/data/mod.ts";
import { SequentialModel } from "../src/engine/model.ts";
import { TENSORFLOW_PACKAGES } from "../src/engine/backend.ts";
import { dataFor, specFor, TEST_LR, trainRecording } from "./_engine.ts";

const LR = TEST_LR;

for (const kind of ["dense", "conv"] as const) {
  for (const name of OPTIMIZER_NAMES) {
    Deno.test(`${name} lowers the loss on a seeded synthetic task (${kind})`, async () => {
      await initBackend("wasm");
      const spec = specFor(kind, { name, lr: LR[name] }, { epochs: 6 });
      const { events, result } = await trainRecording(spec);
      const epochs = events.flatMap((e) => e.type === "epoch" ? [e.data] : []);
      assert.equal(epochs.length, 6);
      const first = epochs[0].train_loss;
      const last = result.final.train_loss;
      assert.ok(last < 0.7 * first, `train loss ${first} -> ${last}`);
      assert.ok(
        result.final.val_accuracy! > 0.5,
        `val accuracy ${result.final.val_accuracy}`,
      );
    });
  }
}

Deno.test("no tensor leaks: numTensors is flat across epochs and back to baseline after training", async () => {
  await initBackend("wasm");
  for (const name of OPTIMIZER_NAMES) {
    const before = tf.memory().numTensors;
    const counts: number[] = [];
    await trainRecording(
      specFor("conv", { name, lr: LR[name] }, { epochs: 4 }),
      {
        onEvent: (e) =>
          void (e.type === "epoch" && counts.push(tf.memory().numTensors)),
      },
    );
    assert.equal(
      new Set(counts).size,
      1,
      `${name}: tensors per epoch ${counts}`,
    );
    assert.equal(
      tf.memory().numTensors,
      before,
      `${name}: leaked after training`,
    );
  }
});

Deno.test("an exported model reloads with tf.loadLayersModel and predicts the reported test accuracy", async (t) => {
  await initBackend("wasm");
  for (const kind of ["dense", "conv", "residual", "mixed"] as const) {
    await t.step(kind, async () => {
      const base = specFor(kind, { name: "fngd", lr: 0.05 }, { epochs: 3 });
      const spec = JobSpec.parse({
        ...base,
        dataset: { ...base.dataset, test_samples: 64 },
      });
      const data = dataFor(spec);
      let artifacts: ModelArtifacts | undefined;
      const result = await train(spec, data, {
        saveModel: (a) => Promise.resolve(void (artifacts = a)),
      });
      assert.ok(artifacts);
      const manifest = artifacts.modelJson.weightsManifest as {
        weights: tf.io.WeightsManifestEntry[];
      }[];
      const model = await tf.loadLayersModel(tf.io.fromMemory({
        modelTopology: artifacts.modelJson
          .modelTopology as tf.io.ModelJSON["modelTopology"],
        weightSpecs: manifest[0].weights,
        weightData: artifacts.weightData.slice().buffer,
      }));
      const x = tf.tensor(data.test!.x, [
        data.test!.y.length,
        ...spec.model.input_shape,
      ]);
      const predicted = Array.from(
        (model.predict(x) as tf.Tensor).argMax(1).dataSync(),
      );
      const hits = predicted.filter((p, i) => p === data.test!.y[i]).length;
      const accuracy = hits / predicted.length;
      assert.equal(accuracy, result.final.test_accuracy);
      assert.ok(accuracy > 0.4);
      x.dispose();
      model.dispose();
    });
  }
});

Deno.test("an AbortSignal stops training within one step with a cancelled error", async () => {
  await initBackend("wasm");
  const controller = new AbortController();
  let stepsAfterAbort = 0;
  await assert.rejects(
    trainRecording(
      specFor("dense", { name: "fngd", lr: 0.05 }, { epochs: 5 }),
      {
        onEvent: (e) => {
          if (e.type !== "step") return;
          if (controller.signal.aborted) stepsAfterAbort += 1;
          if (e.data.epoch === 2 && e.data.step === 1) controller.abort();
        },
        signal: controller.signal,
      },
    ),
    (e) =>
      e instanceof EngineError && e.code === "cancelled" &&
      /epoch 2, step 2/.test(e.message),
  );
  assert.equal(stepsAfterAbort, 0);
});

Deno.test("a diverging run fails with a diverged error instead of producing NaN", async () => {
  await initBackend("wasm");
  await assert.rejects(
    trainRecording(
      specFor("dense", { name: "sgd", lr: 100, momentum: 0.99 }, {
        epochs: 20,
      }),
    ),
    (e) =>
      e instanceof EngineError && e.code === "diverged" &&
      /loss became/.test(e.message),
  );
});

Deno.test("invalid models are rejected with the offending field named", async (t) => {
  await initBackend("wasm");
  const cases: [string, unknown, RegExp][] = [
    [
      "dense on images",
      { input_shape: [6, 6, 1], layers: [{ type: "dense", units: 4 }] },
      /model\.layers\[0\]: dense expects a flat input.*add a flatten layer/,
    ],
    [
      "kernel larger than input",
      {
        input_shape: [2, 2, 1],
        layers: [{ type: "conv2d", filters: 2, kernel_size: 3 }, {
          type: "flatten",
        }, {
          type: "dense",
          units: 4,
        }],
      },
      /model\.layers\[0\]\.kernel_size/,
    ],
    [
      "last layer not dense",
      {
        input_shape: [4],
        layers: [{ type: "dense", units: 4 }, { type: "flatten" }],
      },
      /last layer must be dense/,
    ],
  ];
  for (const [label, model, pattern] of cases) {
    await t.step(label, () => {
      assert.throws(
        () => new SequentialModel(JobSpec.shape.model.parse(model), 1),
        (e) =>
          e instanceof EngineError && e.code === "invalid_spec" &&
          pattern.test(e.message),
      );
    });
  }
  await t.step("data that does not fit the model", async () => {
    const spec = specFor("dense", { name: "sgd" });
    const data = makeSyntheticDataset({
      name: "synthetic",
      samples: 32,
      features: 10,
      classes: 4,
      seed: 1,
      test_samples: 0,
    });
    await assert.rejects(
      train(spec, data),
      (e) =>
        e instanceof EngineError && e.code === "invalid_spec" &&
        /input_shape \[12\].*\[10\]/.test(e.message),
    );
  });
  await t.step("more classes than output units", async () => {
    const spec = specFor("dense", { name: "sgd" });
    const data = makeSyntheticDataset({
      name: "synthetic",
      samples: 32,
      features: 12,
      classes: 7,
      seed: 1,
      test_samples: 0,
    });
    await assert.rejects(
      train(spec, data),
      (e) =>
        e instanceof EngineError &&
        /4 units but the dataset has 7 classes/.test(e.message),
    );
  });
  await t.step("schema errors name the field", () => {
    const r = JobSpec.safeParse({
      ...specFor("dense", { name: "sgd" }),
      batch_size: 10000,
    });
    assert.equal(r.success, false);
    assert.deepEqual(r.error!.issues[0].path, ["batch_size"]);
    assert.match(
      r.error!.issues[0].message,
      /batch_size must be between 1 and 4096, got 10000/,
    );
  });
});

Deno.test({
  name:
    "the tensorflow backend fails with install instructions when tfjs-node is absent",
  ignore: await hasTfjsNode(),
  fn: async () => {
    await assert.rejects(
      initBackend("tensorflow"),
      (e) =>
        e instanceof EngineError && e.code === "backend_unavailable" &&
        /tfjs-node-gpu/.test(e.message),
    );
    await initBackend("wasm");
  },
});

async function hasTfjsNode(): Promise<boolean> {
  for (const name of TENSORFLOW_PACKAGES) {
    try {
      await import(name);
      return true;
    } catch {
      // not installed
    }
  }
  return false;
}

Deno.test("training lets timers run between steps, so a heartbeat's abort lands mid-epoch", async () => {
  await initBackend("wasm");
  const controller = new AbortController();
  let ticks = 0;
  // Nothing in the loop awaits I/O: only the trainer's own yields let this timer fire.
  const timer = setInterval(() => {
    ticks += 1;
    if (ticks === 3) controller.abort();
  }, 20);
  try {
    const spec = JobSpec.parse({
      ...specFor("dense", { name: "sgd", lr: 0.01 }),
      dataset: {
        name: "synthetic",
        samples: 20000,
        features: 12,
        classes: 4,
        seed: 1,
      },
      batch_size: 8,
      epochs: 50,
    });
    await assert.rejects(
      train(spec, dataFor(spec), { signal: controller.signal }),
      (e) =>
        e instanceof EngineError && e.code === "cancelled" &&
        /epoch 1,/.test(e.message),
    );
  } finally {
    clearInterval(timer);
  }
});

Deno.test("a resume whose store lost the coefficients re-solves them and says so", async () => {
  await initBackend("wasm");
  const spec = specFor("dense", { name: "fngd", lr: 0.05 }, { epochs: 3 });
  const checkpoints: Checkpoint[] = [];
  const full = await trainRecording(spec, {
    onCheckpoint: (cp) => Promise.resolve(void checkpoints.push(cp)),
  });
  const emptyStore = new MemoryCoefficientStore();
  const resumed = await trainRecording(spec, {
    store: emptyStore,
    resumeFrom: checkpoints[0],
  });
  const warnings = resumed.events.filter((e) =>
    e.type === "log" && e.data.level === "warn"
  );
  assert.equal(warnings.length, 1);
  assert.match(
    JSON.stringify(warnings[0]),
    /cached coefficients missing; recomputing them/,
  );
  const perEpoch = full.result.counters.solves;
  // Epoch 2 re-solves every (batch, layer) once; epoch 3 reuses them.
  assert.equal(resumed.result.counters.solves, 2 * perEpoch);
  assert.equal(emptyStore.entries.size, perEpoch);
  assert.ok(Number.isFinite(resumed.result.final.train_loss));
});
