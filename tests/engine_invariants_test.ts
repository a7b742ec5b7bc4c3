/**
 * The five FNGD invariants (README, Guarantees), for a dense net and a conv net. The reference side
 * never uses the engine's captures, Gram matrices or Cholesky: per-sample
 * gradients come from TF.js autograd one sample at a time, and the natural
 * gradient is solved in float64 by Gaussian elimination.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  type Checkpoint,
  decodeCheckpoint,
  encodeCheckpoint,
  initBackend,
  type JobSpec,
  MemoryCoefficientStore,
  train,
} from "../src/engine/mod.ts";
import { SequentialModel } from "../src/engine/model.ts";
import { meanLoss, SEED_STREAM } from "../src/engine/trainer.ts";
import { deriveSeed } from "../src/engine/rng.ts";
import {
  dataFor,
  referenceDirection,
  relativeError,
  specFor,
  type TestKind,
  trainRecording,
} from "./_engine.ts";
import { batchPerSampleGradients } from "./_reference_net.ts";
import { inferModelShapes } from "../src/engine/shapes.ts";

/**
 * dense and conv as the engine's sites are; residual: conv + batch norm + both
 * shortcut kinds; autoencoders under sigmoid cross-entropy and mse.
 */
const KINDS = ["dense", "conv", "residual", "ae_sigmoid", "ae_mse"] as const;

/** One step over one batch of 16 samples: weights before and after. */
async function oneStep(
  spec: JobSpec,
): Promise<{ before: SequentialModel; after: Checkpoint }> {
  let after: Checkpoint | undefined;
  await train(spec, dataFor(spec), {
    onCheckpoint: (cp) => Promise.resolve(void (after = cp)),
  });
  const before = new SequentialModel(
    spec.model,
    deriveSeed(spec.seed, SEED_STREAM.init),
  );
  return { before, after: after! };
}

function singleBatchSpec(
  kind: TestKind,
  optimizer: Record<string, unknown>,
): JobSpec {
  const spec = specFor(kind, optimizer as JobSpec["optimizer"], {
    epochs: 1,
    batch_size: 16,
    validation_split: 0,
  });
  (spec.dataset as { samples: number }).samples = 16;
  return spec;
}

/** Per-sample gradients by autograd, per layer as float64 columns [kernel..., bias...]. */
function perSampleGradients(
  model: SequentialModel,
  spec: JobSpec,
): Float64Array[][] {
  const data = dataFor(spec);
  const width = data.x.length / data.y.length;
  const out: Float64Array[][] = model.trainable.map(() => []);
  for (let i = 0; i < data.y.length; i++) {
    tf.tidy(() => {
      const x = tf.tensor(data.x.subarray(i * width, (i + 1) * width), [
        1,
        ...spec.model.input_shape,
      ]);
      // Sample i's own target: its one-hot label, or its input (autoencoders).
      const y = spec.target === "input"
        ? tf.reshape(x, [1, -1]) as tf.Tensor2D
        : tf.oneHot(tf.tensor1d([data.y[i]], "int32"), model.outputUnits)
          .toFloat() as tf.Tensor2D;
      const vars = model.trainable.flatMap((l) => [l.kernel, l.bias!]);
      // The mean over a batch of one is sample i's own loss (loss.ts).
      const { grads } = tf.variableGrads(
        () => meanLoss(spec.loss, model.forward(x), y),
        vars,
      );
      model.trainable.forEach((l, j) => {
        const k = grads[l.kernel.name].dataSync();
        const b = grads[l.bias!.name].dataSync();
        const g = new Float64Array(k.length + b.length);
        g.set(k);
        g.set(b, k.length);
        out[j].push(g);
      });
    });
  }
  return out;
}

/**
 * Per-sample gradients per site. Samples of a batch-norm net interact, so
 * theirs come from the whole batch in training mode with per-sample weight
 * copies (_reference_net.ts); other nets' one sample at a time, as before.
 */
function siteColumns(
  kind: TestKind,
  model: SequentialModel,
  spec: JobSpec,
): { columns: Float64Array[][]; plain: Map<string, Float64Array> } {
  if (kind !== "residual") {
    return { columns: perSampleGradients(model, spec), plain: new Map() };
  }
  const data = dataFor(spec);
  const x = tf.tensor(data.x, [data.y.length, ...spec.model.input_shape]);
  const y = tf.tidy(() =>
    tf.oneHot(tf.tensor1d(data.y, "int32"), model.outputUnits).toFloat()
  ) as tf.Tensor2D;
  try {
    return batchPerSampleGradients(model, spec.model, x, y);
  } finally {
    x.dispose();
    y.dispose();
  }
}

/** Every plain parameter (batch norm) moved by exactly its mean gradient (lr 1, plain SGD). */
function assertPlainSteps(
  before: SequentialModel,
  after: Checkpoint,
  plain: Map<string, Float64Array>,
): void {
  assert.equal(plain.size, before.plain.length);
  for (const p of before.plain) {
    const w0 = p.variable.dataSync();
    const w1 = after.weights[p.name].data;
    const got = Float64Array.from(w0, (v, i) => v - w1[i]);
    const err = relativeError(got, plain.get(p.name)!);
    assert.ok(err < 1e-4, `${p.name}: relative error ${err}`);
  }
}

function appliedDirection(
  before: SequentialModel,
  after: Checkpoint,
  layer: number,
): Float64Array {
  const l = before.trainable[layer];
  const k0 = l.kernel.dataSync();
  const b0 = l.bias!.dataSync();
  const k1 = after.weights[`${l.name}/kernel`].data;
  const b1 = after.weights[`${l.name}/bias`].data;
  const d = new Float64Array(k0.length + b0.length);
  for (let i = 0; i < k0.length; i++) d[i] = k0[i] - k1[i];
  for (let i = 0; i < b0.length; i++) d[k0.length + i] = b0[i] - b1[i];
  return d;
}

for (const kind of KINDS) {
  Deno.test(`invariant 1 (${kind}): the epoch-1 fngd direction equals lambda (F + lambda I)^-1 gbar`, async (t) => {
    await initBackend("cpu");
    for (const alpha of [0.05, 1, 20]) {
      await t.step(`alpha ${alpha}`, async () => {
        // lr 1, no momentum or decay: the weight change is exactly the applied direction.
        const spec = singleBatchSpec(kind, {
          name: "fngd",
          lr: 1,
          momentum: 0,
          weight_decay: 0,
          damping: alpha,
        });
        const { before, after } = await oneStep(spec);
        try {
          const { columns, plain } = siteColumns(kind, before, spec);
          before.trainable.forEach((_, layer) => {
            const expected = referenceDirection(columns[layer], alpha);
            const got = appliedDirection(before, after, layer);
            const err = relativeError(got, expected);
            assert.ok(err < 1e-4, `layer ${layer}: relative error ${err}`);
          });
          // Not preconditioned: batch-norm scale and shift take the plain gradient.
          assertPlainSteps(before, after, plain);
        } finally {
          before.dispose();
        }
      });
    }
  });

  Deno.test(`weight gradients from (A, E) match TF.js autograd (${kind})`, async () => {
    await initBackend("cpu");
    const spec = singleBatchSpec(kind, {
      name: "sgd",
      lr: 1,
      momentum: 0,
      weight_decay: 0,
    });
    const { before, after } = await oneStep(spec);
    try {
      const { columns, plain } = siteColumns(kind, before, spec);
      assertPlainSteps(before, after, plain);
      before.trainable.forEach((_, layer) => {
        const cols = columns[layer];
        const mean = new Float64Array(cols[0].length);
        for (const g of cols) {
          for (let r = 0; r < g.length; r++) mean[r] += g[r] / cols.length;
        }
        const err = relativeError(appliedDirection(before, after, layer), mean);
        assert.ok(err < 1e-5, `layer ${layer}: relative error ${err}`);
      });
    } finally {
      before.dispose();
    }
  });

  Deno.test(`invariant 2 (${kind}): ngd and fngd give identical losses in epoch 1`, async () => {
    await initBackend("wasm");
    const opt = { lr: 0.05, momentum: 0.9, damping: 0.5 };
    const ngd = await trainRecording(
      specFor(kind, { name: "ngd", ...opt }, { epochs: 1 }),
    );
    const fngd = await trainRecording(
      specFor(kind, { name: "fngd", ...opt }, { epochs: 1 }),
    );
    assert.equal(fngd.steps.length, ngd.steps.length);
    assert.ok(ngd.steps.length >= 4);
    assert.deepEqual(
      fngd.steps.map((s) => s.loss),
      ngd.steps.map((s) => s.loss),
    );
  });

  Deno.test(`invariant 3 (${kind}): with huge damping fngd, ngd and sgd follow the same trajectory`, async () => {
    await initBackend("wasm");
    const opt = { lr: 0.05, momentum: 0.9, weight_decay: 0.001 };
    const sgd = await trainRecording(
      specFor(kind, { name: "sgd", ...opt }, { epochs: 2 }),
    );
    for (const name of ["fngd", "ngd"] as const) {
      const other = await trainRecording(
        specFor(kind, { name, ...opt, damping: 1e9 }, { epochs: 2 }),
      );
      assert.equal(other.steps.length, sgd.steps.length);
      other.steps.forEach((s, i) => {
        const diff = Math.abs(s.loss - sgd.steps[i].loss);
        assert.ok(
          diff < 1e-4 * Math.max(1, Math.abs(sgd.steps[i].loss)),
          `${name} step ${i}: ${s.loss} vs ${sgd.steps[i].loss}`,
        );
      });
    }
  });

  Deno.test(`invariant 4 (${kind}): after epoch 1 fngd computes no Gram matrix and no solve`, async () => {
    await initBackend("wasm");
    const spec = specFor(kind, { name: "fngd", lr: 0.05 }, { epochs: 3 });
    const store = new MemoryCoefficientStore();
    const { result, events } = await trainRecording(spec, { store });
    const batches = Math.ceil(72 / 16); // 96 samples, 25% held out
    // Every dense and conv site, those nested in residual blocks included.
    const layers = inferModelShapes(spec.model).trainable.length;
    assert.equal(result.counters.gram_computations, batches * layers);
    assert.equal(result.counters.solves, batches * layers);
    assert.equal(store.entries.size, batches * layers);
    assert.equal(result.counters.steps, 3 * batches);
    const phases = events.flatMap((e) =>
      e.type === "epoch" ? [e.data.phase] : []
    );
    assert.deepEqual(phases, ["inversion", "inverse_free", "inverse_free"]);
    assert.ok(
      result.seconds_by_phase.inversion! > 0 &&
        result.seconds_by_phase.inverse_free! > 0,
    );
    const summary = events.find((e) => e.type === "coefficients");
    assert.ok(summary && summary.type === "coefficients");
    assert.equal(summary.data.layers.length, layers);
    for (const l of summary.data.layers) {
      assert.equal(l.batches, batches);
      assert.ok(l.min <= l.mean && l.mean <= l.max && l.min > 0);
    }
  });

  Deno.test(`refresh_every recomputes coefficients on schedule (${kind})`, async () => {
    await initBackend("wasm");
    const spec = specFor(kind, { name: "fngd", lr: 0.05, refresh_every: 2 }, {
      epochs: 3,
    });
    const { result, events } = await trainRecording(spec);
    const phases = events.flatMap((e) =>
      e.type === "epoch" ? [e.data.phase] : []
    );
    assert.deepEqual(phases, ["inversion", "inverse_free", "inversion"]);
    const perEpoch = result.counters.solves / 2;
    assert.equal(result.counters.gram_computations, 2 * perEpoch);
  });

  Deno.test(`invariant 5 (${kind}): a run resumed from its checkpoint matches an uninterrupted run`, async () => {
    await initBackend("wasm");
    const spec = specFor(kind, {
      name: "fngd",
      lr: 0.05,
      momentum: 0.9,
      weight_decay: 0.0005,
    }, { epochs: 3 });
    const store = new MemoryCoefficientStore();
    const checkpoints: Checkpoint[] = [];
    const full = await trainRecording(spec, {
      store,
      onCheckpoint: (cp) => Promise.resolve(void checkpoints.push(cp)),
    });
    // Round-trip through bytes, as the worker does through Postgres.
    const blobs = encodeCheckpoint(checkpoints[0]);
    const restored = decodeCheckpoint(blobs.weights, blobs.optimizer_state);
    const resumed = await trainRecording(spec, { store, resumeFrom: restored });
    const later = full.steps.filter((s) => s.epoch >= 2).map((s) => s.loss);
    assert.deepEqual(resumed.steps.map((s) => s.loss), later);
    assert.equal(
      resumed.result.counters.solves,
      full.result.counters.solves,
      "resume must not solve again",
    );
    assert.equal(resumed.result.counters.steps, full.result.counters.steps);
    assert.equal(resumed.result.final.val_loss, full.result.final.val_loss);
  });
}
