/**
 * `layer_norm`: per-sample (per-position) normalisation over the last axis.
 * Gain and bias are plain parameters: no optimizer preconditions them (they
 * are tiny, and K-FAC implementations such as kfac-pytorch leave them to the
 * base rule too); they take the base update rule as batch norm's do. Samples do
 * not interact, so per-sample gradients stay exactly per-sample.
 */
import * as tf from "@tensorflow/tfjs";
import type { LayerKind } from "./kind.ts";
import {
  type LayerNormLayerSpec,
  type LayerNormPlan,
  layerNormPlanner,
} from "./layer_norm_plan.ts";
import { exportUnsupported } from "./sequence_export.ts";

/** The `layer_norm` kind. */
export const layerNorm: LayerKind<typeof LayerNormLayerSpec, LayerNormPlan> = {
  ...layerNormPlanner,
  build(plan) {
    const [gamma, beta] = tf.tidy(() => [
      tf.variable(tf.ones([plan.features]), true),
      tf.variable(tf.zeros([plan.features]), true),
    ]);
    return {
      sites: [],
      plain: [
        { name: `${plan.name}/gamma`, variable: gamma },
        { name: `${plan.name}/beta`, variable: beta },
      ],
      variables: () => [
        [`${plan.name}/gamma`, gamma],
        [`${plan.name}/beta`, beta],
      ],
      forward(x) {
        const axis = x.rank - 1;
        const centred = tf.sub(x, tf.mean(x, axis, true));
        const variance = tf.mean(tf.square(centred), axis, true);
        const normed = tf.mul(
          centred,
          tf.rsqrt(tf.add(variance, plan.epsilon)),
        );
        return tf.add(tf.mul(normed, gamma), beta);
      },
      exportTo: () => exportUnsupported("layer_norm"),
    };
  },
};
