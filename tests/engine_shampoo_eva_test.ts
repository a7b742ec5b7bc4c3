/**
 * Shampoo and Eva: they learn, their directions match float64 references
 * computed by other routes (Denman-Beavers roots, explicit Kronecker
 * systems), their state checkpoints and resumes exactly, they leak no
 * tensors, and the spec rejects bad hyperparameters by field.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  assessJob,
  type Checkpoint,
  decodeCheckpoint,
  encodeCheckpoint,
  EngineError,
  initBackend,
  JobSpec,
  type JobSpecInput,
  train,
} from "../src/engine/mod.ts";
import { makeSyntheticDataset } from "../src/engine/data/mod.ts";
import type { SiteGrad, WeightSite } from "../src/engine/layers/mod.ts";
import { LINEAR_SITE_MATH } from "../src/engine/layers/linear_site.ts";
import { tokenSiteMath } from "../src/engine/layers/embedding_site.ts";
import { inverseRoot, symmetricEigen } from "../src/engine/linalg.ts";
import {
  preconditionerCurvatureFlops,
  preconditionerStateFloats,
  shampooBlocks,
} from "../src/engine/shampoo_eva_cost.ts";
import { OptimizerSpec } from "../src/engine/spec.ts";
import { Rng } from "../src/engine/rng.ts";
import type {
  BaseOptimizer,
  StepContext,
} from "../src/engine/optim/optimizer.ts";
import type { UpdateRule } from "../src/engine/optim/update_rules.ts";
import {
  type ShampooConfig,
  ShampooOptimizer,
} from "../src/engine/optim/shampoo_optimizer.ts";
import {
  type EvaConfig,
  EvaOptimizer,
} from "../src/engine/optim/eva_optimizer.ts";
import { KfacOptimizer } from "../src/engine/optim/kfac_optimizer.ts";
import {
  gaussSolve,
  relativeError,
  specFor,
  trainRecording,
} from "./_engine.ts";
import { sequenceSpec, trainSequences } from "./_sequences.ts";

const SHAMPOO = { name: "shampoo" } as const;
const EVA = { name: "eva" } as const;

for (const kind of ["dense", "conv"] as const) {
  for (const optimizer of [SHAMPOO, EVA]) {
    Deno.test(`${optimizer.name} lowers the loss on a seeded synthetic task (${kind})`, async () => {
      await initBackend("wasm");
      const spec = specFor(kind, optimizer, { epochs: 6 });
      const { events, result } = await trainRecording(spec);
      const epochs = events.flatMap((e) => e.type === "epoch" ? [e.data] : []);
      const first = epochs[0].train_loss;
      const last = result.final.train_loss;
      assert.ok(last < 0.7 * first, `train loss ${first} -> ${last}`);
      assert.ok(result.final.val_accuracy! > 0.5);
      if (optimizer.name === "shampoo") assert.ok(result.counters.solves > 0);
    });
  }
}

// ---- float64 references -------------------------------------------------

/** `a (n x k) @ b (k x m)`, row-major. */
function mm(a: ArrayLike<number>, b: ArrayLike<number>, n: number, k: number) {
  const m = b.length / k;
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += a[i * k + t] * b[t * m + j];
      out[i * m + j] = s;
    }
  }
  return out;
}

const transpose = (a: ArrayLike<number>, n: number, m: number) =>
  Float64Array.from({ length: n * m }, (_, r) => a[(r % n) * m + (r / n | 0)]);

function inverse(a: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    const e = new Float64Array(n);
    e[c] = 1;
    gaussSolve(a, e, n).forEach((v, r) => out[r * n + c] = v);
  }
  return out;
}

/**
 * `(a + eps I)^-1/4` by two Denman-Beavers square-root iterations (no
 * eigendecomposition): the first gives `B = (a + eps I)^-1/2`, the second
 * `B^1/2`.
 */
function referenceRoot(a: ArrayLike<number>, n: number, eps: number) {
  const sqrtPair = (x: Float64Array) => {
    let y = x.slice();
    let z = new Float64Array(n * n);
    for (let i = 0; i < n; i++) z[i * n + i] = 1;
    for (let it = 0; it < 100; it++) {
      const yi = inverse(y, n);
      const zi = inverse(z, n);
      const y2 = y.map((v, i) => (v + zi[i]) / 2);
      z = z.map((v, i) => (v + yi[i]) / 2);
      if (relativeError(y2, y) < 1e-15) return { sqrt: y2, invSqrt: z };
      y = y2;
    }
    return { sqrt: y, invSqrt: z };
  };
  const shifted = Float64Array.from(a);
  for (let i = 0; i < n; i++) shifted[i * n + i] += eps;
  return sqrtPair(sqrtPair(shifted).invSqrt).sqrt;
}

/** A rule that applies nothing and records each site's direction. */
class RecordingRule implements UpdateRule {
  lr = 1;
  directions: Float32Array[][] = [];
  apply(_site: WeightSite, d: SiteGrad): void {
    const parts = [d.kernel.dataSync() as Float32Array];
    if (d.bias) parts.push(d.bias.dataSync() as Float32Array);
    this.directions.push(parts);
  }
  addPlain(): void {}
  applyPlain(): void {}
  beginStep(): void {}
  slots() {
    return new Map<string, tf.Variable>();
  }
  scalars() {
    return {};
  }
  loadScalars(): void {}
  dispose(): void {}
}

/** One site of `fanIn x units` at `positions` per sample: linear, or a token table. */
function makeSite(
  fanIn: number,
  units: number,
  positions: number,
  token = false,
): WeightSite {
  const base = {
    index: 0,
    name: token ? "embedding_1" : "dense_1",
    layer: 0,
    fanIn,
    units,
    positions,
    output: positions === 1 ? [units] : [positions, units],
    kernel: tf.variable(tf.zeros([fanIn, units]) as tf.Tensor2D),
  };
  return token
    ? {
      ...base,
      withoutBias: true,
      oneHot: "tokens",
      math: tokenSiteMath(fanIn),
    }
    : { ...base, bias: tf.variable(tf.zeros([units])), math: LINEAR_SITE_MATH };
}

interface Batch {
  /** Inputs (rows x fanIn), or token ids (rows) for a table. */
  inputs: Float32Array;
  /** Mean-loss output gradients (rows x units). */
  e: Float32Array;
  m: number;
}

function batches(site: WeightSite, m: number, n: number, seed: number) {
  const rng = new Rng(seed);
  const rows = m * site.positions;
  return Array.from({ length: n }, (): Batch => ({
    inputs: Float32Array.from(
      { length: site.oneHot ? rows : rows * site.fanIn },
      () => site.oneHot ? rng.int(site.fanIn) : rng.normal(),
    ),
    e: Float32Array.from({ length: rows * site.units }, () => rng.normal() / m),
    m,
  }));
}

/** Runs `opt.step` on each batch; returns the recorded directions. */
function drive(opt: BaseOptimizer, rule: RecordingRule, bs: Batch[]) {
  const site = opt.sites[0];
  for (const b of bs) {
    const rows = b.e.length / site.units;
    tf.tidy(() => {
      const inputs = site.oneHot
        ? tf.tensor2d(Int32Array.from(b.inputs), [rows, 1], "int32")
        : tf.tensor2d(b.inputs, [rows, site.fanIn]);
      opt.step({
        epoch: 1,
        batch: 0,
        batches: 1,
        m: b.m,
        captures: [{ inputs, positions: site.positions }],
        outGrads: [tf.tensor2d(b.e, [rows, site.units])],
        plainGrads: [],
        readHost: (ts: tf.Tensor[]) =>
          ts.map((t) => t.dataSync() as Float32Array),
      } as StepContext);
    });
  }
  return rule.directions.map((parts) =>
    Float64Array.from(parts.flatMap((p) => Array.from(p)))
  );
}

/** The stacked mean gradient `[A^T e; 1^T e]` (or the scattered table) in float64. */
function stackedGradient(site: WeightSite, b: Batch): Float64Array {
  const rows = b.e.length / site.units;
  const u = site.units;
  const out = new Float64Array((site.fanIn + (site.bias ? 1 : 0)) * u);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < u; c++) {
      const e = b.e[r * u + c];
      if (site.oneHot) out[b.inputs[r] * u + c] += e;
      else {
        for (let i = 0; i < site.fanIn; i++) {
          out[i * u + c] += b.inputs[r * site.fanIn + i] * e;
        }
        out[site.fanIn * u + c] += e;
      }
    }
  }
  return out;
}

// ---- Shampoo ------------------------------------------------------------

Deno.test("symmetricEigen and inverseRoot: A v = lambda v, orthonormal vectors, X^4 (A + eps I) = I, eigenvalues clamped at 0", () => {
  const n = 12;
  const rng = new Rng(5);
  const g = Float64Array.from({ length: n * 4 }, () => rng.normal());
  const a = mm(g, transpose(g, n, 4), n, 4); // rank 4: 8 zero eigenvalues
  const { values, vectors } = symmetricEigen(a, n);
  const av = mm(a, transpose(vectors, n, n), n, n); // columns A v_k
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < n; i++) {
      const r = av[i * n + k] - values[k] * vectors[k * n + i];
      assert.ok(Math.abs(r) < 1e-12, `residual ${r}`);
    }
  }
  const vvt = mm(vectors, transpose(vectors, n, n), n, n);
  vvt.forEach((v, i) =>
    assert.ok(Math.abs(v - (i % (n + 1) === 0 ? 1 : 0)) < 1e-13)
  );
  assert.equal(values.filter((v) => Math.abs(v) < 1e-10).length, 8);
  const eps = 1e-3;
  const x = inverseRoot(a, n, 4, eps);
  const x2 = mm(x, x, n, n);
  const shifted = a.slice();
  for (let i = 0; i < n; i++) shifted[i * n + i] += eps;
  const id = mm(mm(x2, x2, n, n), shifted, n, n);
  id.forEach((v, i) =>
    assert.ok(Math.abs(v - (i % (n + 1) === 0 ? 1 : 0)) < 1e-9, `${v}`)
  );
  // A rounding-negative eigenvalue is clamped: its root is eps^-1/4, not NaN.
  const neg = Float64Array.from([1, 0, 0, -1e-9]);
  assert.deepEqual(
    Array.from(inverseRoot(neg, 2, 4, eps)).map((v) => +v.toPrecision(12)),
    [(1 + eps) ** -0.25, 0, 0, eps ** -0.25].map((v) => +v.toPrecision(12)),
  );
  assert.throws(() => symmetricEigen(Float64Array.from([1, NaN, NaN, 1]), 2));
});

/** Checks `V^T diag(values) V = a` to 1e-10 relative and `V V^T = I`; returns the values. */
function checkEigen(a: Float64Array, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(a, n);
  assert.equal(values.length, n);
  assert.equal(vectors.length, n * n);
  const scaled = vectors.map((v, i) => v * values[i / n | 0]);
  const rebuilt = mm(transpose(vectors, n, n), scaled, n, n);
  const scale = a.reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1;
  const rec = rebuilt.reduce((m, v, i) => Math.max(m, Math.abs(v - a[i])), 0);
  assert.ok(rec / scale < 1e-10, `n = ${n}: reconstruction error ${rec}`);
  const vvt = mm(vectors, transpose(vectors, n, n), n, n);
  const orth = vvt.reduce(
    (m, v, i) => Math.max(m, Math.abs(v - (i % (n + 1) === 0 ? 1 : 0))),
    0,
  );
  assert.ok(orth < 1e-12, `n = ${n}: orthonormality error ${orth}`);
  return values;
}

Deno.test("symmetricEigen: V^T diag(values) V rebuilds the matrix and V is orthonormal, random and structured matrices", async (t) => {
  const rng = new Rng(17);
  for (const n of [1, 2, 3, 50, 200]) {
    await t.step(`random symmetric, n = ${n}`, () => {
      const a = new Float64Array(n * n);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = rng.normal();
      }
      checkEigen(a, n);
    });
  }
  await t.step("identity: one eigenvalue repeated n times", () => {
    const n = 20;
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) a[i * n + i] = 1;
    checkEigen(a, n).forEach((v) => assert.ok(Math.abs(v - 1) < 1e-14));
  });
  await t.step("rank-deficient G G^T, G 100 x 5: 95 zero eigenvalues", () => {
    const n = 100, k = 5;
    const g = Float64Array.from({ length: n * k }, () => rng.normal());
    const a = mm(g, transpose(g, n, k), n, k);
    const values = checkEigen(a, n);
    const top = Math.max(...values);
    assert.equal(values.filter((v) => Math.abs(v) < 1e-12 * top).length, 95);
  });
  await t.step("diagonal with repeated and negative entries", () => {
    const diag = [3, -1, 0, 3, 2.5, -1, 1e-8, 3];
    const n = diag.length;
    const a = new Float64Array(n * n);
    diag.forEach((v, i) => a[i * n + i] = v);
    const values = checkEigen(a, n);
    assert.deepEqual(
      Array.from(values).sort((x, y) => x - y),
      diag.slice().sort((x, y) => x - y),
    );
  });
  await t.step("a non-finite entry is rejected", () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const a = new Float64Array(9);
      a[0] = a[4] = a[8] = 1;
      a[5] = bad;
      assert.throws(() => symmetricEigen(a, 3), /non-finite/);
    }
  });
});

Deno.test("shampoo on one dense site: L^-1/4 G R^-1/4 from running L, R, roots every update_every steps, grafted onto |G|", async () => {
  await initBackend("wasm");
  const config: ShampooConfig = {
    epsilon: 1e-3,
    updateEvery: 2,
    beta: 0.9,
    graft: "none",
    blockSize: 4096,
  };
  const site = makeSite(5, 3, 1);
  const bs = batches(site, 8, 4, 11);
  const run = (c: ShampooConfig) => {
    const rule = new RecordingRule();
    const opt = new ShampooOptimizer([site], rule, c);
    const got = drive(opt, rule, bs);
    const solves = opt.counters.solves;
    opt.dispose();
    return { got, solves };
  };
  const { got, solves } = run(config);
  assert.equal(solves, 4); // roots at steps 1 and 3, two per refresh
  const rows = 6, u = 3;
  let l = new Float64Array(rows * rows);
  let r = new Float64Array(u * u);
  let lRoot = l, rRoot = r;
  bs.forEach((b, t) => {
    const g = stackedGradient(site, b);
    const gg = mm(g, transpose(g, rows, u), rows, u);
    const rr = mm(transpose(g, rows, u), g, u, rows);
    l = t === 0 ? gg : l.map((v, i) => 0.9 * v + 0.1 * gg[i]);
    r = t === 0 ? rr : r.map((v, i) => 0.9 * v + 0.1 * rr[i]);
    if (t % 2 === 0) {
      lRoot = referenceRoot(l, rows, config.epsilon);
      rRoot = referenceRoot(r, u, config.epsilon);
    }
    const expected = mm(mm(lRoot, g, rows, rows), rRoot, rows, u);
    const err = relativeError(got[t], expected);
    assert.ok(err < 1e-4, `step ${t + 1}: relative error ${err}`);
  });
  // Grafting keeps the direction and takes the mean gradient's norm.
  const grafted = run({ ...config, graft: "sgd" }).got;
  bs.forEach((b, t) => {
    const norm = (v: ArrayLike<number>) => Math.hypot(...Array.from(v));
    const scale = norm(stackedGradient(site, b)) / norm(got[t]);
    const err = relativeError(grafted[t], got[t].map((v) => v * scale));
    assert.ok(err < 1e-5, `step ${t + 1}: relative error ${err}`);
  });
  site.kernel.dispose();
  site.bias!.dispose();
});

Deno.test("shampoo on an embedding: diagonal L (each row's squared gradient norm), full R; beta 1 sums", async () => {
  await initBackend("wasm");
  const site = makeSite(7, 3, 4, true);
  const bs = batches(site, 5, 2, 3);
  const rule = new RecordingRule();
  const eps = 1e-2;
  const opt = new ShampooOptimizer([site], rule, {
    epsilon: eps,
    updateEvery: 1,
    beta: 1,
    graft: "none",
    blockSize: 4096,
  });
  const got = drive(opt, rule, bs);
  assert.deepEqual(opt.stateVariables().get("embedding_1/shampoo_l")!.shape, [
    1,
    7,
  ]);
  opt.dispose();
  const u = 3;
  const lDiag = new Float64Array(7);
  let r = new Float64Array(u * u);
  bs.forEach((b, t) => {
    const g = stackedGradient(site, b);
    for (let i = 0; i < 7; i++) {
      for (let c = 0; c < u; c++) lDiag[i] += g[i * u + c] ** 2;
    }
    const rr = mm(transpose(g, 7, u), g, u, 7);
    r = r.map((v, i) => v + rr[i]); // beta 1: plain sums
    const scaled = g.map((v, i) => v * (lDiag[i / u | 0] + eps) ** -0.25);
    const expected = mm(scaled, referenceRoot(r, u, eps), 7, u);
    const err = relativeError(got[t], expected);
    assert.ok(err < 1e-4, `step ${t + 1}: relative error ${err}`);
  });
  site.kernel.dispose();
});

/** The `h x w` block of the row-major `rows x cols` matrix `a` at (r0, c0). */
function block(
  a: Float64Array,
  cols: number,
  r0: number,
  h: number,
  c0: number,
  w: number,
): Float64Array {
  return Float64Array.from(
    { length: h * w },
    (_, k) => a[(r0 + (k / w | 0)) * cols + c0 + k % w],
  );
}

/** Starts of consecutive parts of the given sizes. */
const starts = (sizes: number[]) =>
  sizes.map((_, i) => sizes.slice(0, i).reduce((s, v) => s + v, 0));

Deno.test("blocked shampoo on one dense site: each block's L_b^-1/4 G_b R_b^-1/4 from its own L_b, R_b, grafted onto the whole |G|", async () => {
  await initBackend("wasm");
  const config: ShampooConfig = {
    epsilon: 1e-3,
    updateEvery: 2,
    beta: 0.9,
    graft: "sgd",
    blockSize: 4,
  };
  const site = makeSite(9, 5, 1);
  const bs = batches(site, 8, 4, 13);
  const rule = new RecordingRule();
  const opt = new ShampooOptimizer([site], rule, config);
  const got = drive(opt, rule, bs);
  // Rows 10 split as 4 + 3 + 3, columns 5 as 3 + 2: six blocks, four
  // tensors each, named per block.
  const heights = [4, 3, 3], widths = [3, 2];
  const state = opt.stateVariables();
  assert.equal(state.size, 4 * 6);
  heights.forEach((h, i) =>
    widths.forEach((w, j) => {
      const at = (what: string) =>
        state.get(`dense_1/shampoo_${what}/b${i}_${j}`)!.shape;
      assert.deepEqual(at("l"), [h, h]);
      assert.deepEqual(at("l_root"), [h, h]);
      assert.deepEqual(at("r"), [w, w]);
      assert.deepEqual(at("r_root"), [w, w]);
    })
  );
  assert.equal(opt.counters.solves, 2 * 2 * 6); // 2 refreshes, 2 roots a block
  opt.dispose();
  const rows = 10, u = 5;
  const grid = heights.flatMap((h, i) =>
    widths.map((w, j) => ({
      r0: starts(heights)[i],
      h,
      c0: starts(widths)[j],
      w,
      l: new Float64Array(0),
      r: new Float64Array(0),
      lRoot: new Float64Array(0),
      rRoot: new Float64Array(0),
    }))
  );
  bs.forEach((b, t) => {
    const g = stackedGradient(site, b);
    const expected = new Float64Array(rows * u);
    for (const blk of grid) {
      const { r0, h, c0, w } = blk;
      const gb = block(g, u, r0, h, c0, w);
      const gg = mm(gb, transpose(gb, h, w), h, w);
      const rr = mm(transpose(gb, h, w), gb, w, h);
      blk.l = t === 0 ? gg : blk.l.map((v, i) => 0.9 * v + 0.1 * gg[i]);
      blk.r = t === 0 ? rr : blk.r.map((v, i) => 0.9 * v + 0.1 * rr[i]);
      if (t % 2 === 0) {
        blk.lRoot = referenceRoot(blk.l, h, config.epsilon);
        blk.rRoot = referenceRoot(blk.r, w, config.epsilon);
      }
      const d = mm(mm(blk.lRoot, gb, h, h), blk.rRoot, h, w);
      d.forEach((v, k) => expected[(r0 + (k / w | 0)) * u + c0 + k % w] = v);
    }
    const norm = (v: ArrayLike<number>) => Math.hypot(...Array.from(v));
    const scale = norm(g) / norm(expected);
    const err = relativeError(got[t], expected.map((v) => v * scale));
    assert.ok(err < 1e-4, `step ${t + 1}: relative error ${err}`);
  });
  site.kernel.dispose();
  site.bias!.dispose();
});

Deno.test("shampoo with block_size at or above both dimensions is unblocked Shampoo exactly: same directions, state and names", async () => {
  await initBackend("wasm");
  const site = makeSite(7, 8, 1); // 8 x 8 stacked gradient
  const bs = batches(site, 6, 5, 29);
  const run = (blockSize: number) => {
    const rule = new RecordingRule();
    const opt = new ShampooOptimizer([site], rule, {
      epsilon: 1e-3,
      updateEvery: 2,
      beta: 0.9,
      graft: "sgd",
      blockSize,
    });
    const got = drive(opt, rule, bs);
    const state = new Map(
      [...opt.stateVariables()].map(([k, v]) => [k, v.dataSync()]),
    );
    opt.dispose();
    return { got, state };
  };
  const unblocked = run(4096);
  assert.deepEqual([...unblocked.state.keys()], [
    "dense_1/shampoo_l",
    "dense_1/shampoo_r",
    "dense_1/shampoo_l_root",
    "dense_1/shampoo_r_root",
  ]);
  assert.deepEqual(run(8), unblocked);
  // One below splits both ways (4 + 4), which changes the direction.
  const blocked = run(7);
  assert.ok(blocked.state.has("dense_1/shampoo_l/b1_1"));
  assert.ok(relativeError(blocked.got[4], unblocked.got[4]) > 1e-3);
  site.kernel.dispose();
  site.bias!.dispose();
});

Deno.test("blocked shampoo on an embedding: one diagonal L over whole rows, R blocked by columns", async () => {
  await initBackend("wasm");
  const site = makeSite(7, 5, 4, true);
  const bs = batches(site, 5, 3, 31);
  const rule = new RecordingRule();
  const eps = 1e-2;
  const opt = new ShampooOptimizer([site], rule, {
    epsilon: eps,
    updateEvery: 1,
    beta: 1,
    graft: "none",
    blockSize: 2,
  });
  const got = drive(opt, rule, bs);
  const widths = [2, 2, 1];
  assert.deepEqual(
    [...opt.stateVariables()].map(([k, v]) => [k, v.shape]),
    [
      ["embedding_1/shampoo_l", [1, 7]],
      ["embedding_1/shampoo_l_root", [1, 7]],
      ...widths.flatMap((w, j) => [
        [`embedding_1/shampoo_r/b0_${j}`, [w, w]],
        [`embedding_1/shampoo_r_root/b0_${j}`, [w, w]],
      ]),
    ],
  );
  assert.equal(opt.counters.solves, 3 * (1 + 3));
  opt.dispose();
  const u = 5;
  const lDiag = new Float64Array(7);
  const r = widths.map((w) => new Float64Array(w * w));
  bs.forEach((b, t) => {
    const g = stackedGradient(site, b);
    for (let i = 0; i < 7; i++) {
      for (let c = 0; c < u; c++) lDiag[i] += g[i * u + c] ** 2;
    }
    const scaled = g.map((v, i) => v * (lDiag[i / u | 0] + eps) ** -0.25);
    const expected = new Float64Array(7 * u);
    widths.forEach((w, j) => {
      const c0 = starts(widths)[j];
      const gb = block(g, u, 0, 7, c0, w);
      const rr = mm(transpose(gb, 7, w), gb, w, 7);
      r[j] = r[j].map((v, i) => v + rr[i]);
      const sb = block(scaled, u, 0, 7, c0, w);
      const d = mm(sb, referenceRoot(r[j], w, eps), 7, w);
      d.forEach((v, k) => expected[(k / w | 0) * u + c0 + k % w] = v);
    });
    const err = relativeError(got[t], expected);
    assert.ok(err < 1e-4, `step ${t + 1}: relative error ${err}`);
  });
  site.kernel.dispose();
});

// ---- Eva ----------------------------------------------------------------

/** `abar` (bias 1 appended) and `ebar` (per sample, averaged over all rows) of one batch. */
function batchVectors(site: WeightSite, b: Batch) {
  const rows = b.e.length / site.units;
  const a = new Float64Array(site.fanIn + (site.bias ? 1 : 0));
  for (let r = 0; r < rows; r++) {
    if (site.oneHot) a[b.inputs[r]] += 1 / rows;
    else {
      for (let i = 0; i < site.fanIn; i++) {
        a[i] += b.inputs[r * site.fanIn + i] / rows;
      }
    }
  }
  if (site.bias) a[site.fanIn] = 1;
  const e = new Float64Array(site.units);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < site.units; c++) {
      e[c] += b.m * b.e[r * site.units + c] / rows;
    }
  }
  return { a, e };
}

/** Explicit float64 Eva directions per step, by solving the formed systems. */
function evaReference(site: WeightSite, bs: Batch[], c: EvaConfig, lr: number) {
  let a = new Float64Array(0), e = new Float64Array(0);
  return bs.map((b, t) => {
    const v = batchVectors(site, b);
    const w = c.factorDecay;
    a = t === 0 ? v.a : a.map((x, i) => w * x + (1 - w) * v.a[i]);
    e = t === 0 ? v.e : e.map((x, i) => w * x + (1 - w) * v.e[i]);
    const g = stackedGradient(site, b);
    const na = a.length, ne = e.length, gamma = c.damping;
    let p: Float64Array;
    if (c.dampingForm === "kronecker") {
      // (k k^T + gamma I) vec(P) = vec(G), k = a kron e in G's row-major order.
      const k = Float64Array.from(
        { length: na * ne },
        (_, i) => a[i / ne | 0] * e[i % ne],
      );
      const sys = mm(k, k, na * ne, 1);
      for (let i = 0; i < na * ne; i++) sys[i * na * ne + i] += gamma;
      p = gaussSolve(sys, g, na * ne);
    } else {
      const fa = mm(a, a, na, 1), fe = mm(e, e, ne, 1);
      for (let i = 0; i < na; i++) fa[i * na + i] += gamma;
      for (let i = 0; i < ne; i++) fe[i * ne + i] += gamma;
      p = mm(mm(inverse(fa, na), g, na, na), inverse(fe, ne), na, ne);
    }
    if (c.klClip === 0) return p;
    const vg = lr * lr * p.reduce((s, x, i) => s + x * g[i], 0);
    const nu = vg > 0 ? Math.min(1, Math.sqrt(c.klClip / vg)) : 1;
    assert.ok(nu < 1, "the test wants an active clip");
    return p.map((x) => x * nu);
  });
}

Deno.test("eva on one dense site at T = 2 positions: Sherman-Morrison directions equal the explicit float64 systems, with and without KL clipping", async (t) => {
  await initBackend("wasm");
  const site = makeSite(4, 3, 2);
  const bs = batches(site, 5, 3, 21);
  const cases: [string, EvaConfig][] = [
    ["kronecker", {
      damping: 0.05,
      factorDecay: 0.8,
      klClip: 0,
      dampingForm: "kronecker",
    }],
    ["factors", {
      damping: 0.05,
      factorDecay: 0.8,
      klClip: 0,
      dampingForm: "factors",
    }],
    ["kronecker, KL-clipped", {
      damping: 0.05,
      factorDecay: 0.8,
      klClip: 1e-6,
      dampingForm: "kronecker",
    }],
  ];
  for (const [label, config] of cases) {
    await t.step(label, () => {
      const rule = new RecordingRule();
      rule.lr = 0.5;
      const opt = new EvaOptimizer([site], rule, config);
      const got = drive(opt, rule, bs);
      const vectors = opt.stateVariables();
      assert.deepEqual([...vectors.keys()], ["dense_1/eva_a", "dense_1/eva_g"]);
      opt.dispose();
      const expected = evaReference(site, bs, config, rule.lr);
      expected.forEach((p, i) => {
        const err = relativeError(got[i], p);
        assert.ok(err < 1e-4, `step ${i + 1}: relative error ${err}`);
      });
    });
  }
  site.kernel.dispose();
  site.bias!.dispose();
});

Deno.test("eva on an embedding: abar is the token frequencies, no bias", async () => {
  await initBackend("wasm");
  const site = makeSite(7, 3, 4, true);
  const bs = batches(site, 5, 2, 9);
  const config: EvaConfig = {
    damping: 0.1,
    factorDecay: 0.5,
    klClip: 0,
    dampingForm: "kronecker",
  };
  const rule = new RecordingRule();
  const opt = new EvaOptimizer([site], rule, config);
  const got = drive(opt, rule, bs);
  opt.dispose();
  evaReference(site, bs, config, 1).forEach((p, i) => {
    const err = relativeError(got[i], p);
    assert.ok(err < 1e-4, `step ${i + 1}: relative error ${err}`);
  });
  site.kernel.dispose();
});

// ---- checkpoints, memory, validation -------------------------------------

for (
  const [label, optimizer, key] of [
    [
      "shampoo",
      { name: "shampoo", update_every: 3, weight_decay: 0.0005 },
      "dense_1/shampoo_l",
    ],
    // block_size 8 splits the 13- and 9-row stacked gradients in two.
    ["shampoo, blocked", {
      name: "shampoo",
      update_every: 3,
      weight_decay: 0.0005,
      block_size: 8,
    }, "dense_1/shampoo_l/b1_0"],
    ["eva", { name: "eva", weight_decay: 0.0005 }, "dense_1/eva_a"],
    // 3 steps an epoch: the resume falls inside a factor and inverse cycle.
    ["kfac, amortised", {
      name: "kfac",
      factor_every: 2,
      inv_every: 4,
      weight_decay: 0.0005,
    }, "dense_1/kfac_a"],
  ] as const
) {
  Deno.test(`${label}: 2 epochs equal 1 epoch + a resume from its checkpoint (weights, state, counters)`, async () => {
    await initBackend("wasm");
    const spec = specFor("dense", optimizer, { epochs: 2 });
    const full: Checkpoint[] = [];
    const whole = await trainRecording(spec, {
      onCheckpoint: (cp) => Promise.resolve(void full.push(cp)),
    });
    const half: Checkpoint[] = [];
    await trainRecording({ ...spec, epochs: 1 }, {
      onCheckpoint: (cp) => Promise.resolve(void half.push(cp)),
    });
    // Round-trip through bytes, as the worker does through Postgres.
    const blobs = encodeCheckpoint(half[half.length - 1]);
    const restored = decodeCheckpoint(blobs.weights, blobs.optimizer_state);
    const resumed: Checkpoint[] = [];
    const second = await trainRecording(spec, {
      resumeFrom: restored,
      onCheckpoint: (cp) => Promise.resolve(void resumed.push(cp)),
    });
    assert.deepEqual(
      second.steps.map((s) => s.loss),
      whole.steps.filter((s) => s.epoch === 2).map((s) => s.loss),
    );
    const last = full[full.length - 1];
    const again = resumed[resumed.length - 1];
    assert.deepEqual(again.weights, last.weights);
    assert.deepEqual(again.optimizer_state, last.optimizer_state);
    assert.deepEqual(again.scalars, last.scalars);
    assert.ok(
      key in last.optimizer_state,
      Object.keys(last.optimizer_state).join(),
    );
    assert.equal(second.result.counters.solves, whole.result.counters.solves);
  });
}

Deno.test("no tensor leaks: numTensors is flat across epochs and back to baseline (conv, batch norm and dropout, Transformer)", async (t) => {
  await initBackend("wasm");
  for (const optimizer of [SHAMPOO, EVA]) {
    for (const kind of ["conv", "mixed", "transformer"] as const) {
      await t.step(`${optimizer.name} ${kind}`, async () => {
        const before = tf.memory().numTensors;
        const counts: number[] = [];
        const onEvent = (e: { type: string }) =>
          void (e.type === "epoch" && counts.push(tf.memory().numTensors));
        // block_size 8 splits most of these sites, and leaves a few whole.
        const opt: JobSpecInput["optimizer"] = optimizer.name === "shampoo"
          ? { ...optimizer, update_every: 2, block_size: 8 }
          : optimizer;
        if (kind === "transformer") {
          await trainSequences(sequenceSpec(opt, { epochs: 3 }), { onEvent });
        } else {
          await trainRecording(specFor(kind, opt, { epochs: 3 }), { onEvent });
        }
        assert.equal(new Set(counts).size, 1, `tensors per epoch ${counts}`);
        assert.equal(tf.memory().numTensors, before, "leaked after training");
      });
    }
  }
});

Deno.test("the cost estimate counts the checkpointed state exactly and covers the backend memory training uses (wasm)", async (t) => {
  await initBackend("wasm");
  // Distinct backend buffers, as admission_test.ts counts them.
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
    const mlp = {
      input_shape: [64],
      layers: [
        { type: "dense", units: 128, activation: "relu" },
        { type: "dense", units: 10 },
      ],
    };
    const optimizers: [string, JobSpecInput["optimizer"]][] = [
      ["shampoo", SHAMPOO], // the 129-row second layer splits in two
      ["shampoo, block_size 16", { ...SHAMPOO, block_size: 16 }],
      ["eva", EVA],
    ];
    for (const [label, optimizer] of optimizers) {
      await t.step(label, async () => {
        const spec = JobSpec.parse({
          model: mlp,
          dataset: {
            name: "synthetic",
            samples: 256,
            features: 64,
            classes: 10,
          },
          optimizer,
          epochs: 1,
          batch_size: 64,
        });
        const data = makeSyntheticDataset(
          spec.dataset as Parameters<typeof makeSyntheticDataset>[0],
        );
        let cp: Checkpoint | undefined;
        const base = live;
        peak = live;
        await train(spec, data, {
          onCheckpoint: (c) => Promise.resolve(void (cp = c)),
        });
        const used = peak - base;
        const b = assessJob(spec).estimate.bytes;
        const state = Object.values(cp!.optimizer_state)
          .reduce((n, a) => n + a.data.length, 0);
        assert.equal(b.optimizer_state, 4 * state);
        const onBackend = b.parameters + b.optimizer_state + b.activations +
          b.curvature;
        assert.ok(
          used <= onBackend,
          `measured ${used}, estimated ${onBackend}`,
        );
        assert.ok(
          onBackend < 3 * used,
          `estimated ${onBackend}, measured ${used}`,
        );
      });
    }
  } finally {
    backend.move = move;
    backend.disposeData = disposeData;
  }
});

Deno.test("shampoo's cost terms follow its block grid: near-equal blocks, state per block, root FLOPs per block", () => {
  for (
    const [n, size, parts] of [[785, 128, 7], [256, 128, 2], [129, 128, 2], [
      8,
      128,
      1,
    ], [128, 128, 1]]
  ) {
    const sizes = shampooBlocks(n, size);
    assert.equal(sizes.length, parts);
    assert.equal(sizes.reduce((a, b) => a + b, 0), n);
    assert.ok(Math.max(...sizes) <= size);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${sizes}`);
  }
  // The Fashion-MNIST MLP's first layer: 785 x 256.
  const site = { fanIn: 784, units: 256, positions: 1, output: [256] };
  const spec = (block_size: number) =>
    OptimizerSpec.parse({ name: "shampoo", block_size });
  // 7 row blocks (113 + 6 x 112) by 2 column blocks of 128.
  const l = 2 * (113 ** 2 + 6 * 112 ** 2);
  const r = 14 * 128 ** 2;
  assert.equal(preconditionerStateFloats(spec(128), [site]), 2 * (l + r));
  assert.equal(
    preconditionerStateFloats(spec(4096), [site]),
    2 * (785 ** 2 + 256 ** 2),
  );
  const blocked = preconditionerCurvatureFlops(spec(128), [site], 64);
  const whole = preconditionerCurvatureFlops(spec(4096), [site], 64);
  assert.ok(whole > 4 * blocked, `${whole} vs ${blocked}`);
  // An embedding's diagonal L stays whole; only R's columns are blocked.
  const table = { ...site, withoutBias: true, oneHot: "tokens" as const };
  assert.equal(
    preconditionerStateFloats(spec(128), [table]),
    2 * (784 + 2 * 128 ** 2),
  );
});

Deno.test("a diverging shampoo or eva run fails with a diverged error instead of producing NaN", async () => {
  await initBackend("wasm");
  for (
    const optimizer of [
      { name: "shampoo", lr: 100, momentum: 0.99, update_every: 1 },
      { name: "eva", lr: 100, momentum: 0.99, kl_clip: 0 },
    ] as const
  ) {
    await assert.rejects(
      trainRecording(specFor("dense", optimizer, { epochs: 20 })),
      (e) => e instanceof EngineError && e.code === "diverged",
    );
  }
});

Deno.test("bad shampoo and eva hyperparameters are rejected with the field named", () => {
  const base = specFor("dense", SHAMPOO);
  const cases: [Record<string, unknown>, string][] = [
    [{ name: "shampoo", epsilon: -1 }, "epsilon"],
    [{ name: "shampoo", epsilon: 0 }, "epsilon"],
    [{ name: "shampoo", update_every: 0 }, "update_every"],
    [{ name: "shampoo", update_every: 1.5 }, "update_every"],
    [{ name: "shampoo", beta: 1.5 }, "beta"],
    [{ name: "shampoo", graft: "adagrad" }, "graft"],
    [{ name: "shampoo", block_size: 7 }, "block_size"],
    [{ name: "shampoo", block_size: 4097 }, "block_size"],
    [{ name: "shampoo", block_size: 16.5 }, "block_size"],
    [{ name: "shampoo", lr: 0 }, "lr"],
    [{ name: "eva", damping: 0 }, "damping"],
    [{ name: "eva", factor_decay: 1 }, "factor_decay"],
    [{ name: "eva", kl_clip: -0.1 }, "kl_clip"],
    [{ name: "eva", damping_form: "diagonal" }, "damping_form"],
    [{ name: "eva", momentum: 1 }, "momentum"],
  ];
  for (const [optimizer, field] of cases) {
    const r = JobSpec.safeParse({ ...base, optimizer });
    assert.equal(r.success, false, JSON.stringify(optimizer));
    assert.deepEqual(r.error!.issues[0].path, ["optimizer", field]);
  }
  // Strict objects: another optimizer's field is an error, not ignored.
  const r = JobSpec.safeParse({
    ...base,
    optimizer: { name: "eva", inv_every: 5 },
  });
  assert.equal(r.success, false);
  assert.match(r.error!.issues[0].message, /inv_every/);
  // Defaults fill in.
  assert.deepEqual(JobSpec.parse({ ...base, optimizer: SHAMPOO }).optimizer, {
    name: "shampoo",
    lr: 0.1,
    momentum: 0.9,
    weight_decay: 0,
    epsilon: 1e-4,
    update_every: 20,
    beta: 0.95,
    graft: "sgd",
    block_size: 128,
  });
});

Deno.test("kfac: non-finite factors stop the run with diverged, not a Cholesky failure", async () => {
  await initBackend("wasm");
  const site = makeSite(3, 2, 1);
  const rule = new RecordingRule();
  const opt = new KfacOptimizer([site], rule, 0.01, 0.95, 1);
  const [batch] = batches(site, 4, 1, 1);
  batch.inputs[0] = NaN;
  assert.throws(
    () => drive(opt, rule, [batch]),
    (err: unknown) =>
      err instanceof EngineError && err.code === "diverged" &&
      /K-FAC factors of dense_1/.test(err.message),
  );
  opt.dispose();
  site.kernel.dispose();
  site.bias?.dispose();
});
