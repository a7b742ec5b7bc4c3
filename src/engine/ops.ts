/**
 * Matrix products that stay on wasm's fast path. Measured on wasm (SIMD, one
 * thread): `matMul(A, E, true, false)` for A 128 x 784, E 128 x 256 takes
 * 19 ms, but `matMul(transpose(A), E)` takes 1.5 ms including the transpose;
 * the same holds for `transposeB`. So transposes are always explicit here.
 */
import * as tf from "@tensorflow/tfjs";

/** `op(a) @ op(b)` with explicit transposes instead of matMul's transpose flags. */
export function matMulT(
  a: tf.Tensor,
  b: tf.Tensor,
  transposeA = false,
  transposeB = false,
): tf.Tensor2D {
  return tf.matMul(
    (transposeA ? tf.transpose(a) : a) as tf.Tensor2D,
    (transposeB ? tf.transpose(b) : b) as tf.Tensor2D,
  );
}

/**
 * `x @ w` whose gradient flows to `x` only, as `dy @ transpose(w)`. TF.js's own
 * MatMul gradient uses the slow transposeB path, and the engine never needs
 * autograd's weight gradient: it builds weight gradients from (A, E) itself.
 */
export function linearToInput(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.matMul(args[0] as tf.Tensor2D, w),
    gradFunc: (dy: tf.Tensor | tf.Tensor[]) =>
      tf.matMul(dy as tf.Tensor2D, tf.transpose(w)),
  }));
  return f(x) as tf.Tensor2D;
}
