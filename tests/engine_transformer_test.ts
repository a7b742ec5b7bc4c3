/**
 * The five FNGD invariants (README, Guarantees) on a one-block decoder-only Transformer (embedding,
 * position embedding, pre-norm attention and MLP blocks, position-wise
 * logits), with M = 6 sequences of T = 8 tokens per batch. References never
 * use the engine's captures, Gram matrices or Cholesky: per-sequence
 * gradients come from TF.js autograd one sequence at a time (through the
 * table lookup's own gradient), and the natural gradient is solved in
 * float64 by Gaussian elimination. The token-batch contract is in
 * tests/_sequences.ts.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  type Checkpoint,
  type Dataset,
  decodeCheckpoint,
  encodeCheckpoint,
  exportEngineModel,
  initBackend,
  type JobSpec,
  loadEngineModel,
  MemoryCoefficientStore,
  type ModelArtifacts,
  ModelSpec,
  OPTIMIZER_NAMES,
  train,
} from "../src/engine/mod.ts";
import { SequentialModel } from "../src/engine/model.ts";
import { meanLoss, SEED_STREAM } from "../src/engine/trainer.ts";
import { deriveSeed } from "../src/engine/rng.ts";
import { inferModelShapes } from "../src/engine/shapes.ts";
import {
  gaussSolve,
  referenceDirection,
  relativeError,
  TEST_LR,
} from "./_engine.ts";
import {
  LENGTH,
  makeSequences,
  sequenceSpec,
  trainSequences,
  transformerModel,
  VOCAB,
} from "./_sequences.ts";

/** Sequence i's first `length` tokens as (1, length) tensors: ids and the float mask. */
function sequenceAt(data: Dataset, i: number, length = LENGTH) {
  const { tokens, targetMask } = data.sequences!;
  const from = i * LENGTH;
  return {
    x: tf.tensor2d(tokens.subarray(from, from + length), [1, length], "int32"),
    y: tf.tensor2d(
      Float32Array.from(targetMask.subarray(from, from + length)),
      [1, length],
    ),
  };
}

/** Per-site columns [kernel..., bias...] and plain-parameter gradients of one sequence. */
interface SequenceGradients {
  sites: Float64Array[];
  plain: Float64Array[];
}

/** Sequence i's own gradients by autograd (the mean over a batch of one is its loss). */
function sequenceGradients(
  model: SequentialModel,
  data: Dataset,
  i: number,
  length = LENGTH,
): SequenceGradients {
  const out: SequenceGradients = { sites: [], plain: [] };
  tf.tidy(() => {
    const { x, y } = sequenceAt(data, i, length);
    const siteVars = model.trainable.map((s) =>
      s.bias ? [s.kernel, s.bias] : [s.kernel]
    );
    const plainVars = model.plain.map((p) => p.variable);
    const { grads } = tf.variableGrads(
      () => meanLoss("sequence_cross_entropy", model.forward(x), y, x),
      [...siteVars.flat(), ...plainVars],
    );
    const flat = (vs: tf.Variable[]) => {
      const parts = vs.map((v) => grads[v.name].dataSync());
      const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      return out;
    };
    out.sites = siteVars.map(flat);
    out.plain = plainVars.map((v) => flat([v]));
  });
  return out;
}

/** `before - after` of a variable set, flattened as the reference columns are. */
function weightChange(
  before: tf.Variable[],
  after: Checkpoint,
  names: string[],
): Float64Array {
  const parts = before.map((v, i) => {
    const w0 = v.dataSync();
    const w1 = after.weights[names[i]].data;
    return Float64Array.from(w0, (w, r) => w - w1[r]);
  });
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Every site's and plain parameter's applied change after one step of `optimizer` on one batch of 6. */
async function oneBatchStep(optimizer: Record<string, unknown>) {
  const spec = sequenceSpec(optimizer as JobSpec["optimizer"], {
    epochs: 1,
    validation_split: 0,
  });
  const data = makeSequences(6);
  let after: Checkpoint | undefined;
  await train(spec, data, {
    onCheckpoint: (cp) => Promise.resolve(void (after = cp)),
  });
  const before = new SequentialModel(
    spec.model,
    deriveSeed(spec.seed, SEED_STREAM.init),
  );
  const sites = before.trainable.map((s) =>
    weightChange(
      s.bias ? [s.kernel, s.bias] : [s.kernel],
      after!,
      s.bias ? [`${s.name}/kernel`, `${s.name}/bias`] : [`${s.name}/kernel`],
    )
  );
  const plain = before.plain.map((p) =>
    weightChange([p.variable], after!, [p.name])
  );
  const grads = Array.from(
    { length: 6 },
    (_, i) => sequenceGradients(before, data, i),
  );
  before.dispose();
  return { sites, plain, grads };
}

Deno.test("the Transformer's sites: embeddings, attention projections and position-wise dense layers", () => {
  const shapes = inferModelShapes(sequenceSpec({ name: "sgd" }).model);
  assert.deepEqual(shapes.trainable.map((s) => s.name), [
    "embedding_1",
    "position_embedding_1",
    "residual_1/multi_head_attention_1/query",
    "residual_1/multi_head_attention_1/key",
    "residual_1/multi_head_attention_1/value",
    "residual_1/multi_head_attention_1/output",
    "residual_2/dense_1",
    "residual_2/dense_2",
    "dense_1",
  ]);
  assert.ok(shapes.trainable.every((s) => s.positions === LENGTH));
  assert.equal(shapes.outputUnits, VOCAB);
});

Deno.test("invariant 1 (transformer): the epoch-1 fngd direction equals lambda (F + lambda I)^-1 gbar at every site", async (t) => {
  await initBackend("cpu");
  for (const alpha of [0.05, 1, 20]) {
    await t.step(`alpha ${alpha}`, async () => {
      // lr 1, no momentum or decay: the weight change is exactly the applied direction.
      const { sites, plain, grads } = await oneBatchStep({
        name: "fngd",
        lr: 1,
        momentum: 0,
        weight_decay: 0,
        damping: alpha,
      });
      sites.forEach((got, s) => {
        const expected = referenceDirection(
          grads.map((g) => g.sites[s]),
          alpha,
        );
        const err = relativeError(got, expected);
        assert.ok(err < 1e-4, `site ${s}: relative error ${err}`);
      });
      // Layer-norm gains and biases are not preconditioned: the mean gradient.
      plain.forEach((got, p) => {
        const mean = new Float64Array(got.length);
        for (const g of grads) {
          g.plain[p].forEach((v, r) => mean[r] += v / grads.length);
        }
        const err = relativeError(got, mean);
        assert.ok(err < 1e-4, `plain ${p}: relative error ${err}`);
      });
    });
  }
});

Deno.test("transformer weight gradients from captures and output gradients match autograd (sgd)", async () => {
  await initBackend("cpu");
  const { sites, grads } = await oneBatchStep({
    name: "sgd",
    lr: 1,
    momentum: 0,
    weight_decay: 0,
  });
  sites.forEach((got, s) => {
    const mean = new Float64Array(got.length);
    for (const g of grads) {
      g.sites[s].forEach((v, r) => mean[r] += v / grads.length);
    }
    const err = relativeError(got, mean);
    assert.ok(err < 1e-5, `site ${s}: relative error ${err}`);
  });
});

Deno.test("invariant 2 (transformer): ngd and fngd give identical losses in epoch 1", async () => {
  await initBackend("wasm");
  const opt = { lr: 0.05, momentum: 0.9, damping: 0.5 };
  const ngd = await trainSequences(sequenceSpec({ name: "ngd", ...opt }, {
    epochs: 1,
  }));
  const fngd = await trainSequences(sequenceSpec({ name: "fngd", ...opt }, {
    epochs: 1,
  }));
  assert.equal(ngd.steps.length, 3);
  assert.deepEqual(fngd.steps.map((s) => s.loss), ngd.steps.map((s) => s.loss));
});

Deno.test("invariant 3 (transformer): with huge damping fngd, ngd and sgd follow the same trajectory", async () => {
  await initBackend("wasm");
  const opt = { lr: 0.05, momentum: 0.9, weight_decay: 0.001 };
  const sgd = await trainSequences(sequenceSpec({ name: "sgd", ...opt }, {
    epochs: 2,
  }));
  for (const name of ["fngd", "ngd"] as const) {
    const other = await trainSequences(
      sequenceSpec({ name, ...opt, damping: 1e9 }, { epochs: 2 }),
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

Deno.test("invariant 4 (transformer): after epoch 1 fngd computes no Gram matrix and no solve", async () => {
  await initBackend("wasm");
  const spec = sequenceSpec({ name: "fngd", lr: 0.05 }, { epochs: 3 });
  const store = new MemoryCoefficientStore();
  const { result, events } = await trainSequences(spec, { store });
  const batches = 3; // 24 rows, 25% held out, batches of 6
  const sites = inferModelShapes(spec.model).trainable.length;
  assert.equal(result.counters.gram_computations, batches * sites);
  assert.equal(result.counters.solves, batches * sites);
  assert.equal(store.entries.size, batches * sites);
  assert.equal(result.counters.steps, 3 * batches);
  const phases = events.flatMap((e) =>
    e.type === "epoch" ? [e.data.phase] : []
  );
  assert.deepEqual(phases, ["inversion", "inverse_free", "inverse_free"]);
  const epoch = events.find((e) => e.type === "epoch");
  assert.ok(epoch?.type === "epoch");
  assert.ok(epoch.data.val_accuracy! >= 0 && epoch.data.val_accuracy! <= 1);
  assert.ok(epoch.data.val_exact_match! >= 0);
});

Deno.test("invariant 5 (transformer): a run resumed from its checkpoint matches an uninterrupted run", async () => {
  await initBackend("wasm");
  const spec = sequenceSpec({
    name: "fngd",
    lr: 0.05,
    momentum: 0.9,
    weight_decay: 0.0005,
  }, { epochs: 3 });
  const store = new MemoryCoefficientStore();
  const checkpoints: Checkpoint[] = [];
  const full = await trainSequences(spec, {
    store,
    onCheckpoint: (cp) => Promise.resolve(void checkpoints.push(cp)),
  });
  const blobs = encodeCheckpoint(checkpoints[0]);
  const restored = decodeCheckpoint(blobs.weights, blobs.optimizer_state);
  const resumed = await trainSequences(spec, { store, resumeFrom: restored });
  const later = full.steps.filter((s) => s.epoch >= 2).map((s) => s.loss);
  assert.deepEqual(resumed.steps.map((s) => s.loss), later);
  assert.equal(resumed.result.counters.solves, full.result.counters.solves);
  assert.equal(resumed.result.final.val_loss, full.result.final.val_loss);
});

Deno.test("padding contributes nothing: a padded sequence has the unpadded one's gradients", async (t) => {
  await initBackend("cpu");
  const data = makeSequences(6);
  // Every fixture row ends in padding; its real tokens are the non-zero prefix.
  for (const causal of [true, false]) {
    await t.step(
      causal ? "causal" : "bidirectional (padding keys masked)",
      () => {
        const padded = new SequentialModel(
          ModelSpec.parse(transformerModel({ causal })),
          11,
        );
        const { tokens } = data.sequences!;
        for (let i = 0; i < tokens.length / LENGTH; i++) {
          const row = tokens.subarray(i * LENGTH, (i + 1) * LENGTH);
          const real = row.indexOf(0);
          // Same weights: every table and kernel is shaped independently of T.
          const short = new SequentialModel(
            ModelSpec.parse(transformerModel({ causal, length: real })),
            11,
          );
          const a = sequenceGradients(padded, data, i);
          const b = sequenceGradients(short, data, i, real);
          short.dispose();
          a.sites.forEach((g, s) => {
            const err = relativeError(g, b.sites[s]);
            assert.ok(err < 1e-5, `sequence ${i} site ${s}: ${err}`);
          });
          a.plain.forEach((g, p) => {
            const err = relativeError(g, b.plain[p]);
            assert.ok(err < 1e-5, `sequence ${i} plain ${p}: ${err}`);
          });
        }
        padded.dispose();
      },
    );
  }
  await t.step("causal: tokens after the target change no gradient", () => {
    const model = new SequentialModel(ModelSpec.parse(transformerModel()), 11);
    const { tokens } = data.sequences!;
    // Overwrite every padding position with an ordinary word: under a causal
    // mask nothing before it sees it, and its own predictions are unscored.
    const noisy = tokens.map((id, r) => id === 0 ? 5 + (r % 7) : id);
    const other = {
      ...data,
      sequences: { ...data.sequences!, tokens: noisy },
    };
    for (let i = 0; i < tokens.length / LENGTH; i++) {
      const a = sequenceGradients(model, data, i);
      const b = sequenceGradients(model, other, i);
      [...a.sites, ...a.plain].forEach((g, s) => {
        const err = relativeError(g, [...b.sites, ...b.plain][s]);
        assert.ok(err < 1e-6, `sequence ${i} parameter ${s}: ${err}`);
      });
    }
    model.dispose();
  });
});

Deno.test("sequence_cross_entropy sums target-token cross-entropies per sequence and averages over sequences", async () => {
  await initBackend("cpu");
  const data = makeSequences(6);
  const model = new SequentialModel(ModelSpec.parse(transformerModel()), 3);
  try {
    const { tokens, targetMask } = data.sequences!;
    const x = tf.tensor2d(tokens, [6, LENGTH], "int32");
    const y = tf.tensor2d(Float32Array.from(targetMask), [6, LENGTH]);
    const logits = model.forward(x);
    const loss = meanLoss("sequence_cross_entropy", logits, y, x);
    const z = logits.dataSync();
    let expected = 0;
    for (let i = 0; i < 6; i++) {
      for (let t = 1; t < LENGTH; t++) {
        if (!targetMask[i * LENGTH + t]) continue;
        const row = z.subarray(
          (i * LENGTH + t - 1) * VOCAB,
          (i * LENGTH + t) * VOCAB,
        );
        let max = -Infinity;
        for (const v of row) max = Math.max(max, v);
        let sum = 0;
        for (const v of row) sum += Math.exp(v - max);
        expected -= row[tokens[i * LENGTH + t]] - max - Math.log(sum);
      }
    }
    expected /= 6;
    const got = loss.dataSync()[0];
    assert.ok(
      Math.abs(got - expected) < 1e-5 * Math.abs(expected),
      `${got} vs ${expected}`,
    );
    tf.dispose([x, y, logits, loss]);
  } finally {
    model.dispose();
  }
});

Deno.test("no tensor leaks training the Transformer", async (t) => {
  await initBackend("wasm");
  const lr = TEST_LR;
  for (const name of OPTIMIZER_NAMES) {
    await t.step(name, async () => {
      const before = tf.memory().numTensors;
      const counts: number[] = [];
      await trainSequences(
        sequenceSpec({ name, lr: lr[name] }, { epochs: 3 }),
        {
          onEvent: (e) =>
            void (e.type === "epoch" && counts.push(tf.memory().numTensors)),
        },
      );
      assert.equal(new Set(counts).size, 1, `tensors per epoch ${counts}`);
      assert.equal(tf.memory().numTensors, before, "leaked after training");
    });
  }
});

Deno.test("a trained Transformer exports in the engine's format and reloads with its exact weights", async () => {
  await initBackend("wasm");
  const spec = sequenceSpec({ name: "fngd", lr: 0.05 }, { epochs: 1 });
  let saved: ModelArtifacts | undefined;
  let last: Checkpoint | undefined;
  await trainSequences(spec, {
    saveModel: (a) => Promise.resolve(void (saved = a)),
    onCheckpoint: (cp) => Promise.resolve(void (last = cp)),
  });
  assert.equal(saved!.modelJson.format, "fngd-engine-model");
  const model = loadEngineModel(saved!);
  try {
    const vars = model.variables();
    assert.deepEqual([...vars.keys()], Object.keys(last!.weights));
    for (const [name, v] of vars) {
      assert.deepEqual(v.dataSync(), last!.weights[name].data, name);
    }
    // Saving the reloaded model gives the same bytes.
    assert.deepEqual(exportEngineModel(model).weightData, saved!.weightData);
    const logits = tf.tidy(() =>
      model.forward(
        tf.tensor2d(makeSequences(2).sequences!.tokens, [2, LENGTH], "int32"),
      )
        .shape
    );
    assert.deepEqual(logits, [2, LENGTH, VOCAB]);
  } finally {
    model.dispose();
  }
  assert.throws(
    () =>
      loadEngineModel({ ...saved!, weightData: saved!.weightData.slice(4) }),
    /weights\.bin holds/,
  );
});

/** `M^-1 B` for an n x n float64 `M` and an n x k `B` (row-major), column by column. */
function solveColumns(
  mat: Float64Array,
  b: Float64Array,
  n: number,
  k: number,
): Float64Array {
  const out = new Float64Array(n * k);
  for (let c = 0; c < k; c++) {
    const col = Float64Array.from({ length: n }, (_, r) => b[r * k + c]);
    gaussSolve(mat, col, n).forEach((v, r) => out[r * k + c] = v);
  }
  return out;
}

Deno.test("kfac on the Transformer: expand factors (embedding A the token frequencies, kept diagonal) and A^-1 grad G^-1 in float64", async () => {
  await initBackend("cpu");
  const damping = 0.01;
  const spec = sequenceSpec({
    name: "kfac",
    lr: 1,
    momentum: 0,
    weight_decay: 0,
    damping,
    inv_every: 1,
  }, { epochs: 1, validation_split: 0 });
  const data = makeSequences(6);
  let after: Checkpoint | undefined;
  await train(spec, data, {
    onCheckpoint: (cp) => Promise.resolve(void (after = cp)),
  });
  const before = new SequentialModel(
    spec.model,
    deriveSeed(spec.seed, SEED_STREAM.init),
  );
  try {
    const grads = Array.from(
      { length: 6 },
      (_, i) => sequenceGradients(before, data, i),
    );
    const state = after!.optimizer_state;
    // The embedding's A: token frequencies over all M*T positions, as a row.
    const counts = new Float64Array(VOCAB);
    for (const id of data.sequences!.tokens) counts[id] += 1 / (6 * LENGTH);
    const embA = state["embedding_1/kfac_a"];
    assert.deepEqual(embA.shape, [1, VOCAB]);
    assert.ok(relativeError(embA.data, counts) < 1e-6);
    before.trainable.forEach((s, i) => {
      const a = state[`${s.name}/kfac_a`];
      const g = state[`${s.name}/kfac_g`];
      const diagonal = a.shape[0] === 1;
      const na = a.shape[1];
      const ng = g.shape[0];
      const trace = (m: Float32Array, n: number, diag: boolean) => {
        let t = 0;
        for (let r = 0; r < n; r++) t += diag ? m[r] : m[r * n + r];
        return t / n;
      };
      const pi = Math.sqrt(
        trace(a.data, na, diagonal) / trace(g.data, ng, false),
      );
      const aShift = pi * Math.sqrt(damping);
      const gShift = Math.sqrt(damping) / pi;
      const mean = new Float64Array(na * ng);
      for (const gr of grads) gr.sites[i].forEach((v, r) => mean[r] += v / 6);
      // X = A_d^-1 [dW; db]
      let x: Float64Array;
      if (diagonal) {
        x = mean.map((v, r) => v / (a.data[Math.floor(r / ng)] + aShift));
      } else {
        const ad = Float64Array.from(a.data);
        for (let r = 0; r < na; r++) ad[r * na + r] += aShift;
        x = solveColumns(ad, mean, na, ng);
      }
      // D = X G_d^-1 = (G_d^-1 X^T)^T, G symmetric.
      const gd = Float64Array.from(g.data);
      for (let r = 0; r < ng; r++) gd[r * ng + r] += gShift;
      const xt = Float64Array.from(
        { length: ng * na },
        (_, r) => x[(r % na) * ng + Math.floor(r / na)],
      );
      const y = solveColumns(gd, xt, ng, na);
      const expected = Float64Array.from(
        { length: na * ng },
        (_, r) => y[(r % ng) * na + Math.floor(r / ng)],
      );
      const got = weightChange(
        s.bias ? [s.kernel, s.bias] : [s.kernel],
        after!,
        s.bias ? [`${s.name}/kernel`, `${s.name}/bias`] : [`${s.name}/kernel`],
      );
      const err = relativeError(got, expected);
      assert.ok(err < 1e-4, `${s.name}: relative error ${err}`);
    });
  } finally {
    before.dispose();
  }
});
