/**
 * The one-hot sites' math (src/engine/layers/embedding_site.ts) against
 * explicit one-hot algebra in float64, on both backends: the embedding Gram
 * matrix by either formula, its mean and weighted gradients (scatter-adds
 * over repeated ids), and the position embedding's.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../src/engine/mod.ts";
import {
  embeddingGram,
  positionSiteMath,
  tokenSiteMath,
} from "../src/engine/layers/embedding_site.ts";
import type { SiteCapture } from "../src/engine/layers/mod.ts";
import { Rng } from "../src/engine/rng.ts";
import { relativeError } from "./_engine.ts";

const M = 5, T = 6, D = 3, VOCAB = 7;

/** Seeded ids (many repeats: 30 tokens over 7 ids) and mean-scaled output gradients. */
function fixture(seed: number) {
  const rng = new Rng(seed);
  const ids = Int32Array.from({ length: M * T }, () => rng.int(VOCAB));
  const e = Float32Array.from({ length: M * T * D }, () => rng.normal() / M);
  const c = Float64Array.from({ length: M }, () => rng.next());
  return { ids, e, c };
}

/**
 * Sample i's explicit gradient `U_i = sum_t onehot(id_it) (M e_it)^T`,
 * flattened (rows, D), with `rows` one-hot rows and `idOf(i, t)` the hot one.
 */
function explicitGradients(
  e: Float32Array,
  rows: number,
  idOf: (i: number, t: number) => number,
): Float64Array[] {
  return Array.from({ length: M }, (_, i) => {
    const u = new Float64Array(rows * D);
    for (let t = 0; t < T; t++) {
      const onehot = new Float64Array(rows);
      onehot[idOf(i, t)] = 1; // built here, in the reference only
      for (let v = 0; v < rows; v++) {
        for (let d = 0; d < D; d++) {
          u[v * D + d] += onehot[v] * M * e[(i * T + t) * D + d];
        }
      }
    }
    return u;
  });
}

function gramOf(u: Float64Array[]): Float64Array {
  const k = new Float64Array(M * M);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < M; j++) {
      let dot = 0;
      for (let r = 0; r < u[i].length; r++) dot += u[i][r] * u[j][r];
      k[i * M + j] = dot;
    }
  }
  return k;
}

/** `sum_i w_i U_i`. */
function combine(u: Float64Array[], w: ArrayLike<number>): Float64Array {
  const out = new Float64Array(u[0].length);
  u.forEach((ui, i) => ui.forEach((v, r) => out[r] += w[i] * v));
  return out;
}

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`embedding Gram without one-hots equals the explicit one-hot Gram (${backend})`, async (t) => {
    await initBackend(backend);
    const { ids, e, c } = fixture(1);
    const u = explicitGradients(e, VOCAB, (i, t) => ids[i * T + t]);
    const expected = gramOf(u);
    for (const method of ["pairwise", "per_sample"] as const) {
      await t.step(method, () => {
        const got = tf.tidy(() => {
          const cap: SiteCapture = {
            inputs: tf.tensor2d(ids, [M * T, 1], "int32"),
            positions: T,
          };
          return embeddingGram(
            cap,
            tf.tensor2d(e, [M * T, D]),
            M,
            VOCAB,
            method,
          )
            .dataSync();
        });
        const err = relativeError(got, expected);
        assert.ok(err < 1e-5, `relative error ${err}`);
      });
    }
    await t.step(
      "mean and weighted gradients are scatter-adds over repeated ids",
      () => {
        const math = tokenSiteMath(VOCAB);
        const [mean, weighted] = tf.tidy(() => {
          const cap: SiteCapture = {
            inputs: tf.tensor2d(ids, [M * T, 1], "int32"),
            positions: T,
          };
          const et = tf.tensor2d(e, [M * T, D]);
          const scaled = tf.tensor2d(Float32Array.from(c, (v) => v * M), [
            M,
            1,
          ]);
          return [
            math.meanGradient(cap, et).kernel.dataSync(),
            math.weightedGradient(cap, et, scaled).kernel.dataSync(),
          ];
        });
        const err1 = relativeError(
          mean,
          combine(u, new Float64Array(M).fill(1 / M)),
        );
        assert.ok(err1 < 1e-5, `mean: relative error ${err1}`);
        const err2 = relativeError(weighted, combine(u, c));
        assert.ok(err2 < 1e-5, `weighted: relative error ${err2}`);
      },
    );
  });

  Deno.test(`position embedding Gram and gradients equal the explicit onehot(t) algebra (${backend})`, async () => {
    await initBackend(backend);
    const maxLength = T + 2;
    const { e, c } = fixture(2);
    const u = explicitGradients(e, maxLength, (_, t) => t);
    const math = positionSiteMath(maxLength);
    const [gram, mean, weighted] = tf.tidy(() => {
      const cap: SiteCapture = {
        inputs: tf.reshape(tf.tile(tf.range(0, T, 1, "int32"), [M]), [-1, 1]),
        positions: T,
      };
      const et = tf.tensor2d(e, [M * T, D]);
      const scaled = tf.tensor2d(Float32Array.from(c, (v) => v * M), [M, 1]);
      return [
        math.gram(cap, et, M).dataSync(),
        math.meanGradient(cap, et).kernel.dataSync(),
        math.weightedGradient(cap, et, scaled).kernel.dataSync(),
      ];
    });
    assert.ok(relativeError(gram, gramOf(u)) < 1e-5);
    assert.ok(
      relativeError(mean, combine(u, new Float64Array(M).fill(1 / M))) < 1e-5,
    );
    assert.ok(relativeError(weighted, combine(u, c)) < 1e-5);
  });
}

Deno.test("embedding K-FAC factors: A is the diagonal of token frequencies over all positions (expand)", async () => {
  await initBackend("wasm");
  const { ids, e } = fixture(3);
  const [a, g] = tf.tidy(() => {
    const cap: SiteCapture = {
      inputs: tf.tensor2d(ids, [M * T, 1], "int32"),
      positions: T,
    };
    const f = tokenSiteMath(VOCAB).kfacFactors(
      cap,
      tf.tensor2d(e, [M * T, D]),
      M,
    );
    return [f.a.dataSync(), f.g.dataSync()];
  });
  // Kept as its (1, vocab) diagonal.
  const wantA = new Float64Array(VOCAB);
  for (const id of ids) wantA[id] += 1 / (M * T);
  assert.ok(relativeError(a, wantA) < 1e-6);
  // G = sum over rows of (M e)(M e)^T / M.
  const wantG = new Float64Array(D * D);
  for (let r = 0; r < M * T; r++) {
    for (let p = 0; p < D; p++) {
      for (let q = 0; q < D; q++) {
        wantG[p * D + q] += M * e[r * D + p] * e[r * D + q];
      }
    }
  }
  assert.ok(relativeError(g, wantG) < 1e-5);
});
