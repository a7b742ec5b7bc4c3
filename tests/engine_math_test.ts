/** Linear algebra, SMW coefficients, patches and Gram formulas against independent references. */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  choleskyInPlace,
  choleskyInverse,
  choleskySolve,
  choleskyWithJitter,
  conjugateGradientSolve,
  NotPositiveDefinite,
} from "../src/engine/linalg.ts";
import {
  cgIterationBound,
  chooseSmwSolver,
  solveSmwCoefficients,
} from "../src/engine/smw.ts";
import { extractPatches } from "../src/engine/layers/conv2d.ts";
import { patchGeometry } from "../src/engine/layers/geometry.ts";
import {
  gramMatrix,
  LINEAR_SITE_MATH,
} from "../src/engine/layers/linear_site.ts";
import { EngineError, initBackend } from "../src/engine/mod.ts";
import { foldedStrips } from "../src/engine/parallel/shard_messages.ts";
import { Rng } from "../src/engine/rng.ts";
import { gaussSolve, relativeError } from "./_engine.ts";

function randomSpd(n: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const b = Float64Array.from({ length: n * n }, () => rng.normal());
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = i === j ? n : 0;
      for (let k = 0; k < n; k++) s += b[i * n + k] * b[j * n + k];
      a[i * n + j] = s;
    }
  }
  return a;
}

Deno.test("choleskySolve agrees with Gaussian elimination in float64", () => {
  const n = 40;
  const a = randomSpd(n, 1);
  const rng = new Rng(2);
  const b = Float64Array.from({ length: n }, () => rng.normal());
  const l = a.slice();
  choleskyInPlace(l, n);
  assert.ok(relativeError(choleskySolve(l, n, b), gaussSolve(a, b, n)) < 1e-12);
});

Deno.test("choleskyInverse times the matrix is the identity", () => {
  const n = 25;
  const a = randomSpd(n, 3);
  const l = a.slice();
  choleskyInPlace(l, n);
  const inv = choleskyInverse(l, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += a[i * n + k] * inv[k * n + j];
      assert.ok(Math.abs(s - (i === j ? 1 : 0)) < 1e-10, `(${i}, ${j}) = ${s}`);
    }
  }
});

Deno.test("choleskyWithJitter rescues a singular PSD matrix and reports the retries", () => {
  // Rank one: v v^T is PSD but singular.
  const v = [1, 2, 3];
  const a = new Float64Array(9);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) a[i * 3 + j] = v[i] * v[j];
  }
  assert.throws(() => choleskyInPlace(a.slice(), 3), NotPositiveDefinite);
  const r = choleskyWithJitter(a, 3);
  assert.ok(r.retries > 0 && r.jitter > 0);
});

Deno.test("choleskyWithJitter gives up on NaN instead of returning garbage", () => {
  const a = Float64Array.from([1, NaN, NaN, 1]);
  assert.throws(() => choleskyWithJitter(a, 2), NotPositiveDefinite);
});

Deno.test("solveSmwCoefficients solves (K / lambda + M I) c = 1 with lambda = alpha ||K||_F / M", () => {
  const m = 12;
  const k = randomSpd(m, 4);
  const alpha = 0.3;
  const sol = solveSmwCoefficients(Float32Array.from(k), m, alpha);
  let norm = 0;
  for (const v of k) norm += v * v;
  const lambda = alpha * Math.sqrt(norm) / m;
  assert.ok(Math.abs(sol.lambda - lambda) / lambda < 1e-6);
  const sys = k.map((v) => v / lambda);
  for (let i = 0; i < m; i++) sys[i * m + i] += m;
  const expected = gaussSolve(sys, new Float64Array(m).fill(1), m);
  assert.ok(relativeError(sol.coefficients, expected) < 1e-6);
});

Deno.test("conjugateGradientSolve agrees with Gaussian elimination, and reports a missed target", () => {
  const n = 30;
  const a = randomSpd(n, 11);
  const rng = new Rng(12);
  const b = Float64Array.from({ length: n }, () => rng.normal());
  const sol = conjugateGradientSolve(a, n, b, 200, 1e-12);
  assert.ok(sol !== undefined);
  assert.ok(relativeError(sol.x, gaussSolve(a, b, n)) < 1e-9);
  // Two iterations cannot reach 1e-12 on a spread spectrum.
  assert.equal(conjugateGradientSolve(a, n, b, 2, 1e-12), undefined);
  const nan = a.slice();
  nan[0] = NaN;
  assert.equal(conjugateGradientSolve(nan, n, b, 200, 1e-12), undefined);
});

/** A batch-128 Gram matrix shaped like a dense layer's: `(A A^T + 1) o (E E^T)`. */
function layerGram(m: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const a = Float64Array.from({ length: m * 20 }, () => rng.normal());
  const e = Float64Array.from({ length: m * 6 }, () => rng.normal() * 0.01);
  const k = new Float32Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      let aa = 1, ee = 0;
      for (let t = 0; t < 20; t++) aa += a[i * 20 + t] * a[j * 20 + t];
      for (let t = 0; t < 6; t++) ee += e[i * 6 + t] * e[j * 6 + t];
      k[i * m + j] = aa * ee;
    }
  }
  return k;
}

Deno.test("solveSmwCoefficients by CG matches the float64 direct solve at batch 128", () => {
  const m = 128;
  const k = layerGram(m, 13);
  for (const alpha of [1, 0.3]) {
    assert.equal(chooseSmwSolver(m, alpha), "cg");
    const sol = solveSmwCoefficients(k, m, alpha);
    assert.equal(sol.solver, "cg");
    let norm = 0;
    for (const v of k) norm += v * v;
    const lambda = alpha * Math.sqrt(norm) / m;
    const sys = Float64Array.from(k, (v) => v / lambda);
    for (let i = 0; i < m; i++) sys[i * m + i] += m;
    const expected = gaussSolve(sys, new Float64Array(m).fill(1), m);
    assert.ok(relativeError(sol.coefficients, expected) < 1e-6);
    const direct = solveSmwCoefficients(k, m, alpha, "cholesky");
    assert.equal(direct.solver, "cholesky");
    assert.ok(relativeError(sol.coefficients, direct.coefficients) < 1e-6);
  }
});

Deno.test("the CG bound follows the condition number 1 + 1/alpha, and small damping or batches take Cholesky", () => {
  // alpha = 1: k <= 2, rate (sqrt 2 - 1)/(sqrt 2 + 1) = 0.1716 per iteration.
  const bound = cgIterationBound(1);
  const rate = (Math.SQRT2 - 1) / (Math.SQRT2 + 1);
  assert.ok(2 * Math.SQRT2 * rate ** bound <= 1e-10);
  assert.ok(2 * Math.SQRT2 * rate ** (bound - 1) > 1e-10);
  assert.ok(cgIterationBound(0.01) > cgIterationBound(0.1));
  assert.equal(chooseSmwSolver(128, 0.01), "cholesky");
  assert.equal(chooseSmwSolver(12, 1), "cholesky");
  assert.equal(
    solveSmwCoefficients(layerGram(128, 14), 128, 0.01).solver,
    "cholesky",
  );
});

Deno.test("solveSmwCoefficients tends to 1/M as damping grows and handles K = 0", () => {
  const m = 8;
  const k = Float32Array.from(randomSpd(m, 5));
  const c = solveSmwCoefficients(k, m, 1e9).coefficients;
  for (const v of c) assert.ok(Math.abs(v - 1 / m) < 1e-6);
  const zero = solveSmwCoefficients(new Float32Array(m * m), m, 1).coefficients;
  for (const v of zero) assert.equal(v, Math.fround(1 / m));
});

Deno.test("solveSmwCoefficients rejects a non-finite Gram matrix with a typed error", () => {
  const k = new Float32Array(4).fill(NaN);
  assert.throws(
    () => solveSmwCoefficients(k, 2, 1),
    (e) =>
      e instanceof EngineError && e.code === "non_finite_coefficients" &&
      /non-finite/.test(e.message),
  );
});

Deno.test("patches times the reshaped kernel equals tf.conv2d", async (t) => {
  await initBackend("wasm");
  const cases = [
    { shape: [7, 6, 2], k: [3, 3], s: [1, 1], p: "valid" },
    { shape: [7, 6, 2], k: [3, 2], s: [1, 1], p: "same" },
    { shape: [9, 8, 3], k: [3, 3], s: [2, 2], p: "same" },
    { shape: [9, 8, 1], k: [2, 3], s: [2, 1], p: "valid" },
  ] as const;
  for (const c of cases) {
    await t.step(`${c.shape} kernel ${c.k} strides ${c.s} ${c.p}`, () => {
      tf.tidy(() => {
        const x = tf.randomNormal(
          [3, ...c.shape],
          0,
          1,
          "float32",
          11,
        ) as tf.Tensor4D;
        const w = tf.randomNormal(
          [c.k[0], c.k[1], c.shape[2], 4],
          0,
          1,
          "float32",
          12,
        ) as tf.Tensor4D;
        const g = patchGeometry([...c.shape], [...c.k], [...c.s], c.p);
        const ours = tf.reshape(
          tf.matMul(extractPatches(x, g), tf.reshape(w, [-1, 4])),
          [3, g.outHeight, g.outWidth, 4],
        );
        const ref = tf.conv2d(x, w, [...c.s], c.p);
        assert.deepEqual(ours.shape, ref.shape);
        assert.ok(relativeError(ours.dataSync(), ref.dataSync()) < 1e-5);
      });
    });
  }
});

Deno.test("conv Gram: per-sample and pairwise formulas agree with an explicit U^T U", async () => {
  await initBackend("cpu");
  const m = 5, t = 6, k = 4, units = 3;
  tf.tidy(() => {
    const p = tf.randomNormal([m * t, k], 0, 1, "float32", 1) as tf.Tensor2D;
    const e = tf.randomNormal(
      [m * t, units],
      0,
      1,
      "float32",
      2,
    ) as tf.Tensor2D;
    const cap = { inputs: p, positions: t };
    const a = gramMatrix(cap, e, m, "per_sample").dataSync();
    const b = gramMatrix(cap, e, m, "pairwise").dataSync();
    // Explicit: g_i = vec(sum_t [p_it, 1] (M e_it)^T), then K_ij = g_i . g_j in float64.
    const pv = p.dataSync();
    const ev = e.dataSync();
    const g: Float64Array[] = [];
    for (let i = 0; i < m; i++) {
      const gi = new Float64Array((k + 1) * units);
      for (let s = 0; s < t; s++) {
        const row = i * t + s;
        for (let r = 0; r <= k; r++) {
          const pr = r < k ? pv[row * k + r] : 1;
          for (let u = 0; u < units; u++) {
            gi[r * units + u] += pr * m * ev[row * units + u];
          }
        }
      }
      g.push(gi);
    }
    const ref = new Float64Array(m * m);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < m; j++) {
        ref[i * m + j] = g[i].reduce((s, v, r) => s + v * g[j][r], 0);
      }
    }
    assert.ok(relativeError(a, ref) < 1e-5, "per_sample");
    assert.ok(relativeError(b, ref) < 1e-5, "pairwise");
  });
});

Deno.test("dense Gram by folded lower strips, as data-parallel shards compute it, mirrors into the whole Gram", async () => {
  await initBackend("wasm");
  const m = 10, k = 7, units = 3;
  tf.tidy(() => {
    const a = tf.randomNormal([m, k], 0, 1, "float32", 3) as tf.Tensor2D;
    const e = tf.randomNormal([m, units], 0, 1, "float32", 4) as tf.Tensor2D;
    const cap = { inputs: a, positions: 1 };
    const whole = gramMatrix(cap, e, m).dataSync();
    for (const parts of [2, 3, 6]) {
      const joined = new Float32Array(m * m).fill(NaN);
      for (const strips of foldedStrips(m, parts)) {
        for (const [lo, hi] of strips) {
          const v = LINEAR_SITE_MATH.gramStrip!(
            a.dataSync() as Float32Array,
            e.dataSync() as Float32Array,
            m,
            lo,
            hi,
          );
          assert.equal(v.length, (m - lo) * (hi - lo));
          for (let r = lo; r < m; r++) {
            for (let c = lo; c < hi; c++) {
              joined[r * m + c] =
                joined[c * m + r] =
                  v[(r - lo) * (hi - lo) + c - lo];
            }
          }
        }
      }
      // Every entry written (NaN would fail), and equal to the whole.
      assert.ok(relativeError(joined, whole) < 1e-6, `${parts} parts`);
    }
    // A capture that carries its Gram hands it back as it is.
    const carried = { ...cap, gram: tf.tensor2d(whole, [m, m]) };
    assert.equal(gramMatrix(carried, e, m), carried.gram);
  });
});

Deno.test("foldedStrips covers every column once and deals the lower triangle evenly", () => {
  for (const [m, parts] of [[128, 2], [128, 3], [10, 4], [3, 2], [1, 2]]) {
    const dealt = foldedStrips(m, parts);
    assert.equal(dealt.length, parts);
    const seen = new Array(m).fill(0);
    const shares = dealt.map((strips) =>
      strips.reduce((sum, [lo, hi]) => {
        for (let c = lo; c < hi; c++) seen[c]++;
        return sum + (m - lo) * (hi - lo);
      }, 0)
    );
    assert.deepEqual(seen, new Array(m).fill(1), `${m} over ${parts}`);
    if (m >= 2 * parts) {
      // Equal up to the rounding of strip widths.
      const spread = Math.max(...shares) - Math.min(...shares);
      assert.ok(spread <= 2 * m, `${m} over ${parts}: ${shares}`);
    }
  }
});
