/**
 * `multi_head_attention`: self-attention whose four projections are linear
 * sites at the T positions (linear_site.ts), so FNGD, NGD and K-FAC
 * precondition them with the same math as conv patches. The score and
 * softmax part between them has no parameters.
 */
import * as tf from "@tensorflow/tfjs";
import type { ForwardPass, LayerKind } from "./kind.ts";
import {
  createLinearSite,
  linearForward,
  siteVariables,
} from "./linear_site.ts";
import {
  type MultiHeadAttentionLayerSpec,
  type MultiHeadAttentionPlan,
  multiHeadAttentionPlanner,
} from "./multi_head_attention_plan.ts";
import { exportUnsupported } from "./sequence_export.ts";

/**
 * Added to masked scores: large enough that softmax gives them exactly 0 in
 * float32, finite so that a query whose keys are all masked (a padding
 * position before any token) gets uniform weights rather than NaN.
 */
const MASKED = -1e9;

/** The additive mask (M or 1, 1, T, T): causal and padding keys, or undefined for none. */
function scoreMask(
  length: number,
  causal: boolean,
  pass: ForwardPass,
): tf.Tensor | undefined {
  let mask: tf.Tensor | undefined;
  if (causal) {
    const values = new Float32Array(length * length);
    for (let q = 0; q < length; q++) {
      for (let k = q + 1; k < length; k++) values[q * length + k] = MASKED;
    }
    mask = tf.tensor4d(values, [1, 1, length, length]);
  }
  if (pass.padding) {
    const m = pass.padding.shape[0];
    const keys = tf.mul(tf.reshape(pass.padding, [m, 1, 1, length]), MASKED);
    mask = mask ? tf.add(mask, keys) : keys;
  }
  return mask;
}

/** The `multi_head_attention` kind. */
export const multiHeadAttention: LayerKind<
  typeof MultiHeadAttentionLayerSpec,
  MultiHeadAttentionPlan
> = {
  ...multiHeadAttentionPlanner,
  build(plan, ctx) {
    // Glorot, as Keras's MultiHeadAttention initialises its projections.
    const [query, key, value, output] = plan.sites.map((s) =>
      createLinearSite(s, ctx, "linear")
    );
    const all = [query, key, value, output];
    const dim = plan.output[1];
    const h = plan.heads;
    const dh = dim / h;
    return {
      sites: all,
      plain: [],
      variables: () => all.flatMap(siteVariables),
      forward(x, pass) {
        // Rows may be shorter than planned (greedy decoding cuts them).
        const [m, length] = x.shape;
        const rows = tf.reshape(x, [m * length, dim]) as tf.Tensor2D;
        // (M, T, D) -> (M h, T, d_head)
        const heads = (z: tf.Tensor) =>
          tf.reshape(
            tf.transpose(tf.reshape(z, [m, length, h, dh]), [0, 2, 1, 3]),
            [m * h, length, dh],
          ) as tf.Tensor3D;
        const q = heads(linearForward(query, rows, m, pass));
        const k = heads(linearForward(key, rows, m, pass));
        const v = heads(linearForward(value, rows, m, pass));
        if (pass.captures) {
          // Q, K and V read the same rows: one capture, so its cached
          // transpose (linear_site.ts) is computed once for the three.
          const shared = pass.captures[query.index];
          pass.captures[key.index] = shared;
          pass.captures[value.index] = shared;
        }
        // Explicit transposes: wasm's batched matMul is slow with the flags (ops.ts).
        let scores: tf.Tensor = tf.reshape(
          tf.mul(tf.matMul(q, tf.transpose(k, [0, 2, 1])), 1 / Math.sqrt(dh)),
          [m, h, length, length],
        );
        const mask = scoreMask(length, plan.causal, pass);
        if (mask) scores = tf.add(scores, mask);
        const weights = tf.reshape(tf.softmax(scores), [m * h, length, length]);
        const context = tf.reshape(
          tf.transpose(
            tf.reshape(tf.matMul(weights as tf.Tensor3D, v), [
              m,
              h,
              length,
              dh,
            ]),
            [0, 2, 1, 3],
          ),
          [m * length, dim],
        ) as tf.Tensor2D;
        return linearForward(output, context, m, pass);
      },
      exportTo: () => exportUnsupported("multi_head_attention"),
    };
  },
};
