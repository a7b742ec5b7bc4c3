/**
 * Stateless per-layer-type curvature helpers: weight gradients, Gram matrices
 * and K-FAC factors from a layer's inputs A (or patches P) and its output
 * gradients E. Nothing here owns state; callers run it inside `tf.tidy`.
 *
 * `e` is always the gradient of the mean batch loss (backprop's `e_i / M`);
 * the per-sample gradient of FNGD.md is `M * e`.
 */
import * as tf from "@tensorflow/tfjs";
import type { LayerCapture } from "./model.ts";
import { matMulT } from "./ops.ts";
import { chooseConvGramMethod, type ConvGramMethod } from "./gram_method.ts";

/**
 * `A^T`, computed once per capture: the weight gradient and the Gram matrix
 * both need it, and a 128 x 784 transpose costs 0.4 ms on wasm. The cached
 * tensor belongs to the step's tidy, like the capture's other intermediates.
 */
export function inputsTransposed(cap: LayerCapture): tf.Tensor2D {
  cap.inputsT ??= tf.transpose(cap.inputs);
  return cap.inputsT;
}

/** A gradient-shaped direction for one layer. */
export interface LayerGrad {
  kernel: tf.Tensor2D;
  bias: tf.Tensor1D;
}

/** Mean-loss gradient `A^T e` (SGD's direction; `c = 1/M` in FNGD terms). */
export function meanGradient(cap: LayerCapture, e: tf.Tensor2D): LayerGrad {
  return {
    kernel: tf.matMul(inputsTransposed(cap), e),
    bias: tf.sum(e, 0),
  };
}

/**
 * `U c = sum_i c_i g_i` without forming U: `A^T diag(c) E` with E per-sample.
 * `scaled` is the (M, 1) column `M c` (e is mean-scaled, so `M c_i e_i` is
 * `c_i` times sample i's own gradient); conv layers scale every output
 * position of sample i by it.
 */
export function weightedGradient(
  cap: LayerCapture,
  e: tf.Tensor2D,
  scaled: tf.Tensor2D,
): LayerGrad {
  const m = scaled.shape[0];
  const weighted = cap.positions === 1
    ? tf.mul(e, scaled)
    : tf.reshape(tf.mul(tf.reshape(e, [m, -1]), scaled), e.shape);
  return {
    kernel: tf.matMul(inputsTransposed(cap), weighted as tf.Tensor2D),
    bias: tf.sum(weighted, 0),
  };
}

// Pure flop arithmetic, shared with the cost estimate (which loads no TF.js).
export { chooseConvGramMethod, type ConvGramMethod } from "./gram_method.ts";

/**
 * The per-sample Gram matrix `K = U^T U` (M x M), bias included, per FNGD.md:
 * dense `(A A^T + 1) o (E E^T)`; conv by per-sample gradients or pairwise positions.
 */
export function gramMatrix(
  cap: LayerCapture,
  e: tf.Tensor2D,
  m: number,
  convMethod?: ConvGramMethod,
): tf.Tensor2D {
  const m2 = m * m; // e is mean-scaled: E E^T (per-sample) = m^2 e e^T
  if (cap.positions === 1) {
    const aa = tf.add(tf.matMul(cap.inputs, inputsTransposed(cap)), 1);
    const ee = matMulT(e, e, false, true);
    return tf.mul(tf.mul(aa, ee), m2);
  }
  const t = cap.positions;
  const k = cap.inputs.shape[1];
  const units = e.shape[1];
  const method = convMethod ?? chooseConvGramMethod(m, t, k, units);
  if (method === "pairwise") {
    const pp = tf.add(tf.matMul(cap.inputs, inputsTransposed(cap)), 1);
    const ee = matMulT(e, e, false, true);
    const blocks = tf.reshape(tf.mul(pp, ee), [m, t, m, t]);
    return tf.mul(tf.sum(blocks, [1, 3]), m2) as tf.Tensor2D;
  }
  const p3 = tf.reshape(cap.inputs, [m, t, k]);
  const e3 = tf.reshape(e, [m, t, units]);
  const perSample = tf.reshape(tf.matMul(tf.transpose(p3, [0, 2, 1]), e3), [
    m,
    k * units,
  ]);
  const biasGrads = tf.sum(e3, 1) as tf.Tensor2D;
  const kw = matMulT(perSample, perSample, false, true);
  const kb = matMulT(biasGrads, biasGrads, false, true);
  return tf.mul(tf.add(kw, kb), m2);
}

/**
 * K-FAC factors of one batch: `A = mean over rows of [a, 1][a, 1]^T` and
 * `G = sum_rows (M e)(M e)^T / M`, i.e. E[g g^T] per sample for dense layers.
 */
export function kfacFactors(
  cap: LayerCapture,
  e: tf.Tensor2D,
  m: number,
): { a: tf.Tensor2D; g: tf.Tensor2D } {
  const rows = cap.inputs.shape[0];
  const aug = tf.concat([cap.inputs, tf.ones([rows, 1])], 1);
  return {
    a: tf.div(matMulT(aug, aug, true, false), rows),
    g: tf.mul(matMulT(e, e, true, false), m),
  };
}

/** Stacks kernel and bias into the (fan_in + 1, units) matrix K-FAC preconditions. */
export function stackKernelBias(g: LayerGrad): tf.Tensor2D {
  return tf.concat([g.kernel, tf.reshape(g.bias, [1, -1])], 0);
}

/** Splits a stacked (fan_in + 1, units) matrix back into kernel and bias. */
export function splitKernelBias(w: tf.Tensor): LayerGrad {
  const fanIn = w.shape[0] - 1;
  return {
    kernel: tf.slice(w, [0, 0], [fanIn, -1]) as tf.Tensor2D,
    bias: tf.reshape(tf.slice(w, [fanIn, 0], [1, -1]), [-1]),
  };
}
