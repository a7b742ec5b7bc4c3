/**
 * K-FAC's amortisation: the direction in either product order equals
 * float64 `A^-1 [dW; db] G^-1`, the factors update only every
 * `factor_every` steps, and a resume in the middle of a factor cycle is
 * exact. The float64 check of a whole step on the Transformer is in
 * engine_transformer_test.ts.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { type Checkpoint, initBackend } from "../src/engine/mod.ts";
import { LINEAR_SITE_MATH } from "../src/engine/layers/linear_site.ts";
import { Rng } from "../src/engine/rng.ts";
import { relativeError, specFor, trainRecording } from "./_engine.ts";

/** Row-major float64 product of (n x k) and (k x m). */
function matmul(
  a: Float64Array,
  b: Float64Array,
  n: number,
  k: number,
  m: number,
): Float64Array {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < k; p++) {
      const v = a[i * k + p];
      for (let j = 0; j < m; j++) out[i * m + j] += v * b[p * m + j];
    }
  }
  return out;
}

/** A random symmetric positive definite n x n matrix, well conditioned. */
function spd(rng: Rng, n: number): Float64Array {
  const g = Float64Array.from({ length: n * n }, () => rng.normal());
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = i === j ? n : 0;
      for (let p = 0; p < n; p++) s += g[i * n + p] * g[j * n + p] / n;
      out[i * n + j] = s;
    }
  }
  return out;
}

for (
  const [label, rows, fanIn, units] of [
    // Few rows and wide factors: the capture-first order is cheaper.
    ["capture first (8 rows, 40 -> 30)", 8, 40, 30],
    // Many rows (patches): the gradient-first order is cheaper.
    ["gradient first (200 rows, 6 -> 5)", 200, 6, 5],
  ] as const
) {
  Deno.test(`kfacDirection, ${label}: equals float64 A^-1 [X^T e] G^-1`, async () => {
    await initBackend("cpu");
    const rng = new Rng(11);
    const x = Float64Array.from({ length: rows * fanIn }, () => rng.normal());
    const e = Float64Array.from({ length: rows * units }, () => rng.normal());
    const a = fanIn + 1;
    const aInv = spd(rng, a);
    const gInv = spd(rng, units);
    // [X, 1]^T e, the stacked (fan_in + 1, units) gradient.
    const aug = new Float64Array(rows * a);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < fanIn; c++) aug[r * a + c] = x[r * fanIn + c];
      aug[r * a + fanIn] = 1;
    }
    const augT = new Float64Array(a * rows);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < a; c++) augT[c * rows + r] = aug[r * a + c];
    }
    const grad = matmul(augT, e, a, rows, units);
    const expected = matmul(
      matmul(aInv, grad, a, a, units),
      gInv,
      a,
      units,
      units,
    );
    const got = tf.tidy(() => {
      const cap = {
        inputs: tf.tensor2d(Float32Array.from(x), [rows, fanIn]),
        positions: 1,
      };
      const d = LINEAR_SITE_MATH.kfacDirection!(
        cap,
        tf.tensor2d(Float32Array.from(e), [rows, units]),
        tf.tensor2d(Float32Array.from(aInv), [a, a]),
        tf.tensor2d(Float32Array.from(gInv), [units, units]),
      );
      return tf.concat([d.kernel, tf.reshape(d.bias!, [1, -1])], 0);
    });
    const err = relativeError(await got.data() as Float32Array, expected);
    got.dispose();
    assert.ok(err < 1e-5, `relative error ${err}`);
  });
}

/** The final checkpoint's K-FAC state of a dense run. */
async function kfacState(
  factorEvery: number,
  epochs: number,
): Promise<Checkpoint["optimizer_state"]> {
  // One batch per epoch (16 training samples): every step sees the same
  // inputs, so only the changing weights move the second layer's factors.
  const spec = specFor("dense", {
    name: "kfac",
    lr: 0.05,
    factor_every: factorEvery,
    factor_decay: 0.5,
  }, {
    epochs,
    dataset: {
      name: "synthetic",
      samples: 16,
      features: 12,
      classes: 4,
      seed: 3,
    },
    validation_split: 0,
  });
  let last: Checkpoint | undefined;
  await trainRecording(spec, {
    onCheckpoint: (cp) => Promise.resolve(void (last = cp)),
  });
  return last!.optimizer_state;
}

Deno.test("kfac factor_every: factors update on steps 0, k, 2k, ... only", async () => {
  await initBackend("wasm");
  const one = await kfacState(1, 1);
  const skipped = await kfacState(10, 3);
  const every = await kfacState(1, 3);
  for (const name of ["dense_2/kfac_a", "dense_2/kfac_g"]) {
    // Steps 1 and 2 fall inside the cycle: the factors stay step 0's.
    assert.deepEqual(skipped[name].data, one[name].data, name);
    // Updated every step, the moving weights change them.
    assert.notDeepEqual(every[name].data, one[name].data, name);
  }
});
