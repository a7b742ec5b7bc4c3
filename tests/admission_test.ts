/**
 * Admission control in the engine: shape inference without allocation, the
 * cost estimate against hand-computed numbers and against measured backend
 * memory, the synthetic dataset bound, and the worker's guard.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  assessJob,
  checkJobFits,
  datasetInfoFromSpec,
  datasetInfoOf,
  EngineError,
  estimateJobCost,
  formatBytes,
  inferModelShapes,
  initBackend,
  JobSpec,
  type JobSpecInput,
  JobTooLargeError,
  train,
  uploadedDatasetInfo,
} from "../src/engine/mod.ts";
import {
  makeSyntheticDataset,
  TRANSLATION_LENGTH,
  TRANSLATION_VOCABULARY_SIZE,
} from "../src/engine/data/mod.ts";
import { makeTranslationDataset } from "../src/engine/data/translation.ts";
import { loadConfig } from "../src/config.ts";
import { ApiError } from "../routes/problem.ts";
import { admitJobSpec } from "../routes/_job_admission.ts";
import { syntheticBytes } from "../src/engine/data/synthetic_size.ts";
import { SequentialModel } from "../src/engine/model.ts";

/** A job spec from a model and dataset, other fields defaulted. */
function job(
  model: unknown,
  dataset: unknown,
  extra: Partial<JobSpecInput> = {},
): JobSpec {
  return JobSpec.parse({
    model,
    dataset,
    optimizer: { name: "sgd" },
    ...extra,
  });
}

const flat = (layers: unknown[], input = [8]) => ({
  input_shape: input,
  layers,
});

Deno.test("inferModelShapes gives every layer's shapes without allocating", async () => {
  await initBackend("cpu");
  const before = tf.memory().numTensors;
  const shapes = inferModelShapes(JobSpec.shape.model.parse({
    input_shape: [28, 28, 1],
    layers: [
      { type: "conv2d", filters: 4, kernel_size: 3, activation: "relu" },
      { type: "max_pool2d", pool_size: 2 },
      {
        type: "conv2d",
        filters: 8,
        kernel_size: [3, 5],
        strides: 2,
        padding: "same",
      },
      { type: "flatten" },
      { type: "dense", units: 10 },
    ],
  }));
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(shapes.layers.map((l) => l.output), [
    [26, 26, 4], // 28 - 3 + 1
    [13, 13, 4], // floor((26 - 2) / 2) + 1
    [7, 7, 8], // ceil(13 / 2)
    [392], // 7 * 7 * 8
    [10],
  ]);
  assert.deepEqual(
    shapes.trainable.map((l) => [l.fanIn, l.units, l.positions]),
    [[9, 4, 676], [3 * 5 * 4, 8, 49], [392, 10, 1]],
  );
  // same padding, stride 2: (7 - 1) * 2 + 3 - 13 = 2 rows, (7 - 1) * 2 + 5 - 13 = 4 columns.
  assert.deepEqual(shapes.trainable[1].geometry!.pad, [1, 1, 2, 2]);
  assert.equal(shapes.outputUnits, 10);
});

Deno.test("impossible models are rejected with the JSON path, by the same code that builds them", async (t) => {
  await initBackend("cpu");
  const cases: [string, unknown, (string | number)[], RegExp][] = [
    [
      "dense after conv without flatten",
      flat([
        { type: "conv2d", filters: 4, kernel_size: 3 },
        { type: "dense", units: 10 },
      ], [8, 8, 1]),
      ["model", "layers", 1],
      /^model\.layers\[1\]: dense expects a flat input, got shape \[6,6,4\]; add a flatten layer/,
    ],
    [
      "kernel larger than its input",
      flat([
        { type: "max_pool2d", pool_size: 2 },
        { type: "conv2d", filters: 2, kernel_size: 5 },
        { type: "flatten" },
        { type: "dense", units: 3 },
      ], [8, 8, 1]),
      ["model", "layers", 1, "kernel_size"],
      /^model\.layers\[1\]\.kernel_size: a 5x5 kernel does not fit input \[4,4,1\]/,
    ],
    [
      "pool larger than its input",
      flat([
        { type: "max_pool2d", pool_size: 4 },
        { type: "flatten" },
        { type: "dense", units: 3 },
      ], [3, 3, 2]),
      ["model", "layers", 0, "pool_size"],
      /^model\.layers\[0\]\.pool_size: pool \[4,4\] does not fit input \[3,3,2\]/,
    ],
    [
      "conv on vectors",
      flat([
        { type: "conv2d", filters: 2, kernel_size: 1 },
        { type: "dense", units: 3 },
      ]),
      ["model", "layers", 0],
      /conv2d expects input \[height, width, channels\], got \[8\]/,
    ],
    [
      "pool on a 2-D input",
      flat([
        { type: "max_pool2d" },
        { type: "flatten" },
        { type: "dense", units: 3 },
      ], [4, 4]),
      ["model", "layers", 0],
      /max_pool2d expects a 3-D input/,
    ],
    [
      "strided conv with wide patches after the first trainable layer",
      flat([
        { type: "conv2d", filters: 12, kernel_size: 3 },
        { type: "conv2d", filters: 4, kernel_size: 3, strides: [1, 2] },
        { type: "flatten" },
        { type: "dense", units: 3 },
      ], [9, 9, 1]),
      ["model", "layers", 1, "strides"],
      /^model\.layers\[1\]\.strides: strides \[1,2\] need patches of at most 100 values .* got 3x3x12 = 108/,
    ],
    [
      "last layer not dense",
      flat([{ type: "dense", units: 4 }, { type: "flatten" }]),
      ["model", "layers", 1],
      /the last layer must be dense/,
    ],
  ];
  for (const [label, model, path, pattern] of cases) {
    await t.step(label, () => {
      const spec = JobSpec.shape.model.parse(model);
      let inferred: EngineError | undefined;
      try {
        inferModelShapes(spec);
      } catch (e) {
        inferred = e as EngineError;
      }
      assert.ok(inferred instanceof EngineError, "inference accepted it");
      assert.equal(inferred.code, "invalid_spec");
      assert.deepEqual(inferred.path, path);
      assert.match(inferred.message, pattern);
      // The model builder throws exactly the same error.
      assert.throws(
        () => new SequentialModel(spec, 1),
        (e) => e instanceof EngineError && e.message === inferred!.message,
      );
    });
  }
});

Deno.test("the strided-conv rule mirrors TF.js: stridedSlice has no gradient", async () => {
  // If this starts passing through, TF.js gained the gradient and the rule in
  // inferModelShapes can go.
  await initBackend("cpu");
  const x = tf.ones([1, 4, 4, 1]);
  assert.throws(
    () =>
      tf.grad((t) =>
        tf.stridedSlice(t, [0, 0, 0, 0], [1, 4, 4, 1], [1, 2, 2, 1])
      )(x),
    /gradient function not found for StridedSlice/,
  );
  x.dispose();
  // The first trainable layer needs no input gradient: accepted, and it trains.
  const spec = job(
    flat([
      { type: "conv2d", filters: 2, kernel_size: 11, strides: 2 },
      { type: "flatten" },
      { type: "dense", units: 3 },
    ], [13, 13, 1]),
    { name: "synthetic", samples: 16, shape: [13, 13, 1], classes: 3 },
    { epochs: 1, batch_size: 8 },
  );
  const result = await train(
    spec,
    makeSyntheticDataset(
      spec.dataset as Parameters<typeof makeSyntheticDataset>[0],
    ),
  );
  assert.ok(Number.isFinite(result.final.train_loss));
});

Deno.test("assessJob checks the dataset against the model before loading it", async (t) => {
  await t.step("too few output units for the classes", () => {
    const spec = job(flat([{ type: "dense", units: 3 }], [8]), {
      name: "synthetic",
      features: 8,
      classes: 5,
    });
    assert.throws(
      () => assessJob(spec),
      (e) =>
        e instanceof EngineError && e.code === "invalid_spec" &&
        e.path?.join(".") === "model.layers.0.units" &&
        /3 units but the dataset has 5 classes; give it at least 5 units/
          .test(e.message),
    );
  });
  await t.step("samples that do not fit the input", () => {
    const spec = job(
      flat([{ type: "flatten" }, { type: "dense", units: 10 }], [28, 28]),
      { name: "fashion-mnist" },
    );
    // [28, 28] has 784 values like fashion-mnist's [28, 28, 1]: accepted.
    assert.equal(assessJob(spec).dataset.trainSamples, 60_000);
    const wrong = job(flat([{ type: "dense", units: 10 }], [100]), {
      name: "mnist",
    });
    assert.throws(
      () => assessJob(wrong),
      (e) =>
        e instanceof EngineError &&
        e.path?.join(".") === "model.input_shape" &&
        /input_shape \[100\] has 100 values but dataset samples have shape \[28,28,1\] \(784 values\)/
          .test(e.message),
    );
  });
  await t.step("uploads need their stored facts", () => {
    const spec = job(flat([{ type: "dense", units: 10 }], [4]), {
      id: "00000000-0000-4000-8000-000000000000",
    });
    assert.throws(
      () => assessJob(spec),
      (e) => e instanceof EngineError && e.code === "invalid_spec",
    );
    const info = uploadedDatasetInfo({ format: "idx", shape: [4], bytes: 500 });
    // Each IDX sample is at least 4 value bytes + 1 label byte: at most 100.
    assert.equal(info.trainSamples, 100);
    assert.equal(assessJob(spec, info).dataset.trainSamples, 100);
  });
  await t.step("an embedding table smaller than the vocabulary", () => {
    const n = TRANSLATION_VOCABULARY_SIZE;
    const translation = (vocab: number, dataset: unknown) =>
      job(
        {
          input_shape: [TRANSLATION_LENGTH],
          layers: [
            { type: "embedding", vocab, dim: 8 },
            { type: "dense", units: n },
          ],
        },
        dataset,
        { loss: "sequence_cross_entropy" },
      );
    const generated = {
      name: "synthetic-translation" as const,
      pairs: 64,
      test_pairs: 0,
      seed: 1,
    };
    const namesVocab = (e: unknown) =>
      e instanceof EngineError && e.code === "invalid_spec" &&
      e.path?.join(".") === "model.layers.0.vocab" &&
      e.message.startsWith(
        `model.layers[0].vocab: the embedding table has 20 rows but the dataset's vocabulary has ${n} tokens`,
      );
    // synthetic-translation's vocabulary is fixed: known before generating.
    assert.equal(assessJob(translation(n, generated)).dataset.vocabulary, n);
    assert.throws(() => assessJob(translation(20, generated)), namesVocab);
    // The API answers 400 with the field, before anything is queued.
    assert.throws(
      () => admitJobSpec(translation(20, generated), undefined, loadConfig({})),
      (e) =>
        e instanceof ApiError && e.status === 400 &&
        e.code === "invalid_spec" &&
        e.extra.errors?.[0].path === "model.layers.0.vocab" &&
        namesVocab(e.cause),
    );
    // An upload's row does not record its vocabulary: admitted, then refused
    // by the worker's guard once the data is loaded.
    const upload = translation(20, {
      id: "00000000-0000-4000-8000-000000000000",
    });
    const row = {
      format: "parallel_text" as const,
      shape: [TRANSLATION_LENGTH],
      bytes: 4096,
    };
    assessJob(upload, uploadedDatasetInfo(row));
    const loaded = makeTranslationDataset({ ...generated, pairs: 8 });
    assert.equal(datasetInfoOf(loaded).vocabulary, n);
    assert.throws(
      () => checkJobFits(upload, 3 * 1024 ** 3, datasetInfoOf(loaded)),
      namesVocab,
    );
  });
});

Deno.test("the cost estimate matches hand-computed numbers for a small MLP", async (t) => {
  // input [8] -> dense 4 relu -> dense 3; 64 samples, validation 0.25: 48
  // training rows, batch M = 16. Parameters 8*4+4 + 4*3+3 = 51 floats.
  const model = flat([
    { type: "dense", units: 4, activation: "relu" },
    { type: "dense", units: 3 },
  ]);
  const dataset = { name: "synthetic", samples: 64, features: 8, classes: 3 };
  const extra = { batch_size: 16, validation_split: 0.25 };

  // Forward floats at M = 16: x 16*8 = 128, one-hot 16*3 = 48; dense 1:
  // product, + bias, probe, + probe, relu = 5 * 64 = 320; dense 2 (linear):
  // 4 * 48 = 192; loss 3 * 48 = 144. Sum 832, doubled for backward: 1664.
  // Transposed inputs + weighted gradients: 16*8 + 16*4 + 16*4 + 16*3 = 304.
  const stepFloats = 1664 + 304;
  // Dataset: generator (latent 4) 8 * (3*4 + 8*4 + 8) = 416; samples and
  // labels 64 * 9 * 4 = 2304, again for the shuffled copy; one-hot 64*3*4 = 768.
  const datasetBytes = 416 + 2304 + 2304 + 768;

  await t.step("sgd (momentum)", () => {
    const e = assessJob(job(model, dataset, extra)).estimate;
    assert.equal(e.batch_rows, 16);
    assert.equal(e.train_rows, 48);
    const activations = (stepFloats + 10 * 51) * 4; // 10 update temporaries
    assert.deepEqual(e.bytes, {
      parameters: 204,
      optimizer_state: 204, // one momentum slot
      activations,
      curvature: 0,
      dataset: datasetBytes,
      checkpoint: 2 * (51 + 51) * 4,
      total_bytes: 204 + 204 + activations + datasetBytes + 816,
    });
    assert.equal(activations, 9912);
    // forward: 2*16*8*4 + 3*16*4 + 2*16*4*3 + 3*16*3 + 5*16*3 = 1984;
    // backward adds the input gradient of layer 2 only: 1984 + 384 = 2368;
    // update 6 * 51 = 306.
    assert.deepEqual(e.flops, {
      forward: 1984,
      backward: 2368,
      curvature: 0,
      update: 306,
      total: 4658,
    });
  });

  await t.step("fngd", () => {
    const spec = job(model, dataset, {
      ...extra,
      optimizer: { name: "fngd" },
    });
    const e = assessJob(spec).estimate;
    // Momentum 51 + coefficients 2 copies * 48 rows * 2 layers = 192 floats.
    assert.equal(e.bytes.optimizer_state, (51 + 192) * 4);
    // Backend Gram temporaries per dense layer: 5 M^2 + units * M =
    // 1280 + 64 and 1280 + 48; host copy 2 * 2 * 256; float64 system and
    // factor 2 layers * 2 * 256 * 8.
    assert.equal(
      e.bytes.curvature,
      (1344 + 1328 + 1024) * 4 + 2 * 2 * 256 * 8,
    );
    // Per layer: 2 M^2 (k + u) + 3 M^2 (Gram), 2 M^2 + M^3 / 3 + 2 M^2
    // (system, Cholesky, solves): 9301.33 + 6741.33.
    assert.ok(Math.abs(e.flops.curvature - 16042.667) < 0.01);
  });
});

Deno.test("the cost estimate matches hand-computed numbers for a small conv net", () => {
  // [6, 6, 1] -> conv 2x(3x3) relu [4, 4, 2] -> pool [2, 2, 2] -> flatten
  // [8] -> dense 3. 8 samples, no validation, M = 4. Conv: fan-in 9, 16
  // positions, 20 parameters; dense 27: 47 floats in all.
  const spec = job(
    {
      input_shape: [6, 6, 1],
      layers: [
        { type: "conv2d", filters: 2, kernel_size: 3, activation: "relu" },
        { type: "max_pool2d", pool_size: 2 },
        { type: "flatten" },
        { type: "dense", units: 3 },
      ],
    },
    { name: "synthetic", samples: 8, shape: [6, 6, 1], classes: 3 },
    { batch_size: 4, validation_split: 0, optimizer: { name: "kfac" } },
  );
  const e = assessJob(spec).estimate;
  // Momentum 47 + K-FAC A, G and inverses: 2 * (10^2 + 2^2) + 2 * (9^2 + 3^2).
  assert.equal(e.bytes.optimizer_state, (47 + 208 + 180) * 4);
  // Forward at M = 4: x 144, one-hot 12, patches twice 2 * 4*16*9 = 1152,
  // the input and the 9x9 identity filter the conv keeps for its gradient
  // 144 + 81, conv outputs 5 * 128 = 640, pool 32, dense 4 * 12 = 48, loss
  // 36: 2289; doubled 4578; transposes + weighted 64*9 + 64*2 + 4*8 + 4*3 =
  // 748; update temporaries 10 * 47 = 470.
  assert.equal(e.bytes.activations, (4578 + 748 + 470) * 4);
  // K-FAC step floats: conv 1280+200+128+8+312+60 = 1988, dense
  // 72+162+12+18+270+81 = 615; refresh copies 2 * (104 + 90); float64
  // inverses 40 bytes * (104 + 90).
  assert.equal(e.bytes.curvature, (1988 + 615) * 4 + 2 * 194 * 4 + 40 * 194);
  // Generator (latent 4): 8 * (3*4 + 36*4 + 36) + a 6x6 float64 plane 288
  // = 1824; samples 8 * 37 * 4 = 1184 twice; one-hot 8 * 3 * 4 = 96.
  assert.equal(e.bytes.dataset, 1824 + 1184 + 1184 + 96);
  assert.equal(e.bytes.checkpoint, 2 * (47 + 47 + 388) * 4);
  assert.equal(
    e.bytes.total_bytes,
    188 + 1740 + 23184 + 19724 + 4288 + 3856,
  );
  // Forward: patches by identity conv 2*64*9*9 = 10368, conv matmul
  // 2*64*9*2 = 2304, its elementwise 3*64*2 = 384, pool 4*8*4 = 128, dense
  // 2*4*8*3 + 3*4*3 = 228, loss 60: 13472.
  assert.equal(e.flops.forward, 13472);
});

Deno.test("the estimate covers the backend memory training really uses (wasm)", async (t) => {
  await initBackend("wasm");
  // Count distinct backend buffers (TF.js's own numBytes also counts
  // reshapes, which share their input's buffer).
  // deno-lint-ignore no-explicit-any
  const backend = tf.backend() as any;
  const sizes = new Map<object, number>();
  let live = 0;
  let peak = 0;
  const move = backend.move.bind(backend);
  const disposeData = backend.disposeData.bind(backend);
  backend.move = (
    id: object,
    values: unknown,
    shape: number[],
    dtype: string,
    refCount: number,
  ) => {
    move(id, values, shape, dtype, refCount);
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    sizes.set(id, bytes);
    live += bytes;
    peak = Math.max(peak, live);
  };
  backend.disposeData = (id: object, force?: boolean) => {
    const freed = disposeData(id, force);
    if (!backend.dataIdMap.has(id) && sizes.has(id)) {
      live -= sizes.get(id)!;
      sizes.delete(id);
    }
    return freed;
  };
  try {
    const conv = {
      input_shape: [16, 16, 4],
      layers: [
        {
          type: "conv2d",
          filters: 16,
          kernel_size: 5,
          strides: 2,
          activation: "relu",
        },
        { type: "conv2d", filters: 8, kernel_size: 3, padding: "same" },
        { type: "flatten" },
        { type: "dense", units: 10 },
      ],
    };
    // Wide 7x7 patches by slices, each of which keeps a copy of the padded input.
    const wide = {
      input_shape: [10, 10, 8],
      layers: [
        { type: "conv2d", filters: 4, kernel_size: 7, padding: "same" },
        { type: "conv2d", filters: 4, kernel_size: [2, 6], strides: [1, 2] },
        { type: "flatten" },
        { type: "dense", units: 10 },
      ],
    };
    const mlp = flat([
      { type: "dense", units: 128, activation: "relu" },
      { type: "dense", units: 10 },
    ], [64]);
    for (
      const [model, optimizer] of [
        [conv, "sgd"],
        [conv, "fngd"],
        [wide, "sgd"],
        [mlp, "kfac"],
        [mlp, "adamw"],
      ] as const
    ) {
      await t.step(
        `${
          model === conv ? "conv" : model === wide ? "wide" : "mlp"
        } ${optimizer}`,
        async () => {
          const shape = model.input_shape;
          const spec = job(model, {
            name: "synthetic",
            samples: 256,
            shape,
            classes: 10,
            test_samples: 128,
          }, { optimizer: { name: optimizer }, epochs: 2, batch_size: 64 });
          const data = makeSyntheticDataset(
            spec.dataset as Parameters<typeof makeSyntheticDataset>[0],
          );
          const base = live;
          peak = live;
          await train(spec, data);
          const used = peak - base;
          const b = assessJob(spec).estimate.bytes;
          const onBackend = b.parameters + b.optimizer_state + b.activations +
            b.curvature;
          assert.ok(
            used <= onBackend,
            `measured ${used} bytes on the backend, estimated ${onBackend}`,
          );
          // Conservative, not absurd.
          assert.ok(
            onBackend < 3 * used,
            `estimated ${onBackend}, measured ${used}`,
          );
        },
      );
    }
  } finally {
    backend.move = move;
    backend.disposeData = disposeData;
  }
});

Deno.test("synthetic datasets are bounded by total bytes in the spec", async (t) => {
  const parse = (dataset: Record<string, unknown>) =>
    JobSpec.shape.dataset.safeParse({ name: "synthetic", ...dataset });
  await t.step("a reported blow-up: 4096x4096x3 images, 2 samples", () => {
    const r = parse({ samples: 2, shape: [4096, 4096, 3], classes: 10 });
    assert.equal(r.success, false);
    const issue = r.error!.issues.find((i) =>
      /synthetic dataset/.test(i.message)
    );
    assert.ok(issue, JSON.stringify(r.error!.issues));
    assert.match(
      issue.message,
      /^synthetic dataset would take 4\.63 GiB \(384 MiB of samples \+ 4\.25 GiB of generator basis\), at most 512 MiB; lower samples/,
    );
  });
  await t.step("the same at 32 classes: the basis alone is 12 GiB", () => {
    const r = parse({ samples: 2, shape: [4096, 4096, 3], classes: 32 });
    assert.match(
      r.error!.issues.map((i) => i.message).join("\n"),
      /would take 12\.9 GiB/,
    );
  });
  await t.step("samples alone can exceed it", () => {
    const r = parse({ samples: 1_000_000, features: 200 });
    assert.match(
      r.error!.issues.map((i) => i.message).join("\n"),
      /would take 767 MiB \(767 MiB of samples/,
    );
  });
  await t.step("just under the bound is accepted, just over is not", () => {
    // 167000 * (800 * 4 + 4) bytes = 510.3 MiB of samples + a 0.07 MiB basis.
    assert.equal(parse({ samples: 167_000, features: 800 }).success, true);
    // 168000 samples: 513.3 MiB.
    assert.equal(parse({ samples: 168_000, features: 800 }).success, false);
  });
  await t.step("syntheticBytes counts what the generator returns", () => {
    const spec = {
      samples: 30,
      test_samples: 10,
      shape: [5, 4, 2],
      classes: 3,
    };
    const data = makeSyntheticDataset({ name: "synthetic", seed: 1, ...spec });
    const bytes = syntheticBytes(spec);
    assert.equal(
      bytes.samples,
      data.x.byteLength + data.y.byteLength + data.test!.x.byteLength +
        data.test!.y.byteLength,
    );
    // centres 3x4, basis 40x4, scale 40, one 5x4 plane: float64.
    assert.equal(bytes.generator, 8 * (12 + 160 + 40 + 20));
  });
});

Deno.test("checkJobFits throws too_large with the estimate, before any data exists", async (t) => {
  const spec = job(
    flat([{ type: "dense", units: 4096 }, { type: "dense", units: 10 }], [
      4096,
    ]),
    { name: "synthetic", samples: 1024, features: 4096, classes: 10 },
    { optimizer: { name: "adamw" } },
  );
  const { estimate } = assessJob(spec);
  await t.step("at the estimate it fits", () => {
    const e = checkJobFits(spec, estimate.bytes.total_bytes);
    assert.deepEqual(e, estimate);
  });
  await t.step("one byte less does not", () => {
    const limit = estimate.bytes.total_bytes - 1;
    assert.throws(
      () => checkJobFits(spec, limit),
      (e) => {
        assert.ok(e instanceof JobTooLargeError);
        assert.ok(e instanceof EngineError);
        assert.equal(e.code, "too_large");
        assert.equal(e.limitBytes, limit);
        assert.deepEqual(e.estimate, estimate);
        assert.match(
          e.message,
          new RegExp(
            `^the job would need about ${
              formatBytes(estimate.bytes.total_bytes)
            } of memory \\(parameters 64\\.2 MiB, optimizer state 128 MiB, .*\\), at most ${
              formatBytes(limit)
            } allowed`,
          ),
        );
        return true;
      },
    );
  });
  await t.step("an impossible spec is invalid_spec, not too_large", () => {
    const bad = job(
      flat([{ type: "dense", units: 10 }], [4, 4, 1]),
      { name: "synthetic", samples: 8, shape: [4, 4, 1], classes: 3 },
    );
    assert.throws(
      () => checkJobFits(bad, 1),
      (e) => e instanceof EngineError && e.code === "invalid_spec",
    );
  });
  await t.step("named datasets use their known sizes", () => {
    const info = datasetInfoFromSpec({ name: "fashion-mnist", limit: 1000 })!;
    assert.deepEqual(
      [info.trainSamples, info.testSamples, info.sampleShape, info.classes],
      [1000, 10_000, [28, 28, 1], 10],
    );
    const e = estimateJobCost(
      { ...spec, validation_split: 0 },
      inferModelShapes(
        JobSpec.shape.model.parse(flat([{ type: "dense", units: 10 }], [784])),
      ),
      info,
    );
    assert.equal(e.train_rows, 1000);
  });
});

Deno.test("formatBytes uses binary units and three digits", () => {
  assert.equal(formatBytes(512), "512 bytes");
  assert.equal(formatBytes(512 * 1024 ** 2), "512 MiB");
  assert.equal(formatBytes(13_841_203_200), "12.9 GiB");
  assert.equal(formatBytes(1.5 * 1024), "1.5 KiB");
});
