/**
 * Residual blocks, batch norm, average pools and dropout: memory, resumes,
 * seeded masks, running statistics, spec validation with JSON paths, the
 * functional export and the cost estimate. The FNGD invariants on a
 * residual net with batch norm are in engine_invariants_test.ts.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  type Checkpoint,
  decodeCheckpoint,
  encodeCheckpoint,
  EngineError,
  estimateJobCost,
  inferModelShapes,
  initBackend,
  JobSpec,
  MemoryCoefficientStore,
  type ModelArtifacts,
  OPTIMIZER_NAMES,
  train,
} from "../src/engine/mod.ts";
import { SequentialModel } from "../src/engine/model.ts";
import {
  dataFor,
  MIXED_MODEL,
  specFor,
  TEST_LR,
  trainRecording,
} from "./_engine.ts";

const LR = TEST_LR;

Deno.test("no tensor leaks with residual blocks, batch norm, pools and dropout", async (t) => {
  await initBackend("wasm");
  for (const kind of ["residual", "mixed"] as const) {
    for (const name of OPTIMIZER_NAMES) {
      await t.step(`${kind} ${name}`, async () => {
        const before = tf.memory().numTensors;
        const counts: number[] = [];
        await trainRecording(
          specFor(kind, { name, lr: LR[name] }, { epochs: 3 }),
          {
            onEvent: (e) =>
              void (e.type === "epoch" && counts.push(tf.memory().numTensors)),
          },
        );
        assert.equal(new Set(counts).size, 1, `tensors per epoch ${counts}`);
        assert.equal(tf.memory().numTensors, before, "leaked after training");
      });
    }
  }
});

Deno.test("a resumed run with dropout and batch norm reproduces the uninterrupted one: losses, masks, running statistics, slots", async (t) => {
  await initBackend("wasm");
  for (
    const optimizer of [
      { name: "fngd", lr: 0.05, momentum: 0.9, weight_decay: 0.0005 },
      { name: "adamw", lr: 0.01 },
    ] as const
  ) {
    await t.step(optimizer.name, async () => {
      const spec = specFor("mixed", optimizer, { epochs: 3 });
      const store = new MemoryCoefficientStore();
      const full: Checkpoint[] = [];
      const first = await trainRecording(spec, {
        store,
        onCheckpoint: (cp) => Promise.resolve(void full.push(cp)),
      });
      const blobs = encodeCheckpoint(full[0]);
      const restored = decodeCheckpoint(blobs.weights, blobs.optimizer_state);
      const resumedCps: Checkpoint[] = [];
      const resumed = await trainRecording(spec, {
        store,
        resumeFrom: restored,
        onCheckpoint: (cp) => Promise.resolve(void resumedCps.push(cp)),
      });
      assert.deepEqual(
        resumed.steps.map((s) => s.loss),
        first.steps.filter((s) => s.epoch >= 2).map((s) => s.loss),
      );
      const last = full[full.length - 1];
      const again = resumedCps[resumedCps.length - 1];
      // Running statistics are weights of the checkpoint: identical.
      const stats = Object.keys(last.weights).filter((n) =>
        n.includes("/moving_")
      );
      assert.equal(stats.length, 4); // 2 batch norms, mean and variance
      assert.deepEqual(again.weights, last.weights);
      // Batch-norm scale and shift have slots of the base rule, checkpointed.
      const slots = Object.keys(last.optimizer_state).filter((n) =>
        /batch_norm_\d\/(gamma|beta)\//.test(n)
      );
      assert.equal(slots.length, optimizer.name === "adamw" ? 8 : 4);
      assert.deepEqual(again.optimizer_state, last.optimizer_state);
    });
  }
});

Deno.test("dropout masks are seeded per run, epoch and batch: identical runs agree, and masks change training", async () => {
  await initBackend("wasm");
  const spec = specFor("mixed", { name: "sgd", lr: 0.05 }, { epochs: 2 });
  const a = await trainRecording(spec);
  const b = await trainRecording(spec);
  assert.deepEqual(a.steps.map((s) => s.loss), b.steps.map((s) => s.loss));
  const noDropout = JobSpec.parse({
    ...spec,
    model: {
      ...spec.model,
      layers: spec.model.layers.map((l) =>
        l.type === "dropout" ? { ...l, rate: 0 } : l
      ),
    },
  });
  const c = await trainRecording(noDropout);
  assert.notDeepEqual(a.steps.map((s) => s.loss), c.steps.map((s) => s.loss));
  const otherSeed = await trainRecording(JobSpec.parse({ ...spec, seed: 8 }));
  assert.notDeepEqual(
    a.steps.map((s) => s.loss),
    otherSeed.steps.map((s) => s.loss),
  );
});

Deno.test("batch norm's running statistics follow Keras's momentum rule over the batch statistics", async () => {
  await initBackend("cpu");
  // Batch norm straight on the input: its batch statistics are the data's.
  const spec = JobSpec.parse({
    model: {
      input_shape: [12],
      layers: [
        { type: "batch_norm", momentum: 0.9 },
        { type: "dense", units: 4 },
      ],
    },
    dataset: {
      name: "synthetic",
      samples: 16,
      features: 12,
      classes: 4,
      seed: 3,
    },
    optimizer: { name: "fngd", lr: 0.1 },
    epochs: 1,
    batch_size: 16,
    seed: 7,
    validation_split: 0,
  });
  let cp: Checkpoint | undefined;
  await train(spec, dataFor(spec), {
    onCheckpoint: (c) => Promise.resolve(void (cp = c)),
  });
  const data = dataFor(spec);
  const mean = new Float64Array(12);
  const variance = new Float64Array(12);
  for (let i = 0; i < 16; i++) {
    for (let f = 0; f < 12; f++) mean[f] += data.x[i * 12 + f] / 16;
  }
  for (let i = 0; i < 16; i++) {
    for (let f = 0; f < 12; f++) {
      variance[f] += (data.x[i * 12 + f] - mean[f]) ** 2 / 16; // biased, as Keras
    }
  }
  const movingMean = cp!.weights["batch_norm_1/moving_mean"].data;
  const movingVariance = cp!.weights["batch_norm_1/moving_variance"].data;
  for (let f = 0; f < 12; f++) {
    assert.ok(Math.abs(movingMean[f] - 0.1 * mean[f]) < 1e-5);
    assert.ok(Math.abs(movingVariance[f] - (0.9 + 0.1 * variance[f])) < 1e-5);
  }
});

Deno.test("invalid residual specs are rejected before training with the JSON path of the block or nested layer", async (t) => {
  await initBackend("wasm");
  const conv = (filters: number, extra: Record<string, unknown> = {}) => ({
    type: "conv2d",
    filters,
    kernel_size: 3,
    padding: "same",
    ...extra,
  });
  const head = [{ type: "global_avg_pool2d" }, { type: "dense", units: 4 }];
  const cases: [string, unknown[], (string | number)[], RegExp][] = [
    [
      "inner branch and shortcut disagree",
      [conv(4), {
        type: "residual",
        layers: [conv(6)],
        shortcut: [conv(5, { kernel_size: 1 })],
      }],
      ["model", "layers", 1],
      /^model\.layers\[1\]: a residual block adds its two branches.*\[6,6,6\] but its shortcut gives \[6,6,5\]/,
    ],
    [
      "identity shortcut of another shape",
      [conv(4), { type: "residual", layers: [conv(8)] }],
      ["model", "layers", 1],
      /^model\.layers\[1\]: .*the identity shortcut gives the block's input \[6,6,4\]; give the block a shortcut/,
    ],
    [
      "an error inside a block",
      [conv(4), {
        type: "residual",
        layers: [{ type: "dense", units: 4 }],
      }],
      ["model", "layers", 1, "layers", 0],
      /^model\.layers\[1\]\.layers\[0\]: dense expects a flat input/,
    ],
    [
      "an error inside a shortcut",
      [conv(4), {
        type: "residual",
        layers: [conv(4)],
        shortcut: [{ type: "conv2d", filters: 4, kernel_size: 9 }],
      }],
      ["model", "layers", 1, "shortcut", 0, "kernel_size"],
      /^model\.layers\[1\]\.shortcut\[0\]\.kernel_size: a 9x9 kernel does not fit/,
    ],
    [
      "an error in a nested block",
      [conv(4), {
        type: "residual",
        layers: [{ type: "residual", layers: [conv(4), conv(3)] }],
      }],
      ["model", "layers", 1, "layers", 0],
      /^model\.layers\[1\]\.layers\[0\]: .*\[6,6,3\]/,
    ],
  ];
  for (const [label, layers, path, pattern] of cases) {
    await t.step(label, async () => {
      const spec = JobSpec.parse({
        ...specFor("conv", { name: "fngd" }),
        model: { input_shape: [6, 6, 1], layers: [...layers, ...head] },
      });
      const events: string[] = [];
      await assert.rejects(
        train(spec, dataFor(spec), {
          onEvent: (e) => void events.push(e.type),
        }),
        (e) =>
          e instanceof EngineError && e.code === "invalid_spec" &&
          pattern.test(e.message) &&
          JSON.stringify(e.path) === JSON.stringify(path),
      );
      assert.deepEqual(events, [], "nothing ran");
    });
  }
  await t.step("schema errors inside a block name the nested field", () => {
    const r = JobSpec.safeParse({
      ...specFor("conv", { name: "fngd" }),
      model: {
        input_shape: [6, 6, 1],
        layers: [conv(4), {
          type: "residual",
          layers: [{ type: "batch_norm", momentum: 2 }],
        }, ...head],
      },
    });
    assert.equal(r.success, false);
    assert.deepEqual(r.error!.issues[0].path, [
      "model",
      "layers",
      1,
      "layers",
      0,
      "momentum",
    ]);
  });
});

Deno.test("a residual net exports as a functional model with Add, BatchNormalization and the pools", async () => {
  await initBackend("wasm");
  const spec = specFor("mixed", { name: "sgd", lr: 0.05 }, { epochs: 1 });
  let artifacts: ModelArtifacts | undefined;
  await train(spec, dataFor(spec), {
    saveModel: (a) => Promise.resolve(void (artifacts = a)),
  });
  const topology = JSON.stringify(artifacts!.modelJson.modelTopology);
  for (
    const cls of [
      "Add",
      "BatchNormalization",
      "AveragePooling2D",
      "Dropout",
    ]
  ) {
    assert.ok(topology.includes(`"class_name":"${cls}"`), cls);
  }
  assert.ok(!topology.includes(`"class_name":"Sequential"`));
});

Deno.test("the cost estimate counts every variable and every nested layer", () => {
  const spec = specFor("residual", { name: "fngd" });
  const info = {
    sampleShape: [6, 6, 1],
    trainSamples: 96,
    testSamples: 0,
    loaderBytes: 0,
  };
  const cost = estimateJobCost(spec, inferModelShapes(spec.model), info);
  const model = new SequentialModel(spec.model, 1);
  try {
    let floats = 0;
    for (const v of model.variables().values()) floats += v.size;
    assert.equal(cost.bytes.parameters, 4 * floats);
  } finally {
    model.dispose();
  }
  // Emptying the blocks' inner branches (identity plus identity) must shrink
  // every term the nested layers contribute.
  const hollow = JobSpec.parse({
    ...spec,
    model: {
      ...MIXED_MODEL,
      layers: MIXED_MODEL.layers.filter((l) => l.type !== "residual"),
    },
  });
  const full = estimateJobCost(
    { ...spec, model: MIXED_MODEL } as unknown as JobSpec,
    inferModelShapes(JobSpec.shape.model.parse(MIXED_MODEL)),
    info,
  );
  const less = estimateJobCost(hollow, inferModelShapes(hollow.model), info);
  assert.ok(full.flops.forward > less.flops.forward);
  assert.ok(full.flops.backward > less.flops.backward);
  assert.ok(full.bytes.activations > less.bytes.activations);
  assert.ok(full.bytes.parameters > less.bytes.parameters);
});
