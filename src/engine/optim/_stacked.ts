/**
 * A site's gradient as one matrix: the kernel with the bias appended as a
 * last row (`[dW; db]`, fan_in + 1 rows), the matrix K-FAC's factors act on
 * (linear_site.ts). Bias-less sites (embeddings) are just their kernel.
 */
import * as tf from "@tensorflow/tfjs";
import type { SiteGrad } from "../layers/mod.ts";

/** `[dW; db]`, or the kernel alone without a bias. */
export function stackGrad(grad: SiteGrad): tf.Tensor2D {
  if (!grad.bias) return grad.kernel;
  return tf.concat([grad.kernel, tf.reshape(grad.bias, [1, -1])], 0);
}

/** Splits a stacked matrix back into kernel and bias; `withBias` as the site has one. */
export function unstackGrad(w: tf.Tensor2D, withBias: boolean): SiteGrad {
  if (!withBias) return { kernel: w };
  const fanIn = w.shape[0] - 1;
  return {
    kernel: tf.slice(w, [0, 0], [fanIn, -1]),
    bias: tf.reshape(tf.slice(w, [fanIn, 0], [1, -1]), [-1]),
  };
}
