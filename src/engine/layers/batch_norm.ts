/**
 * `batch_norm`: batch statistics in training, running statistics in
 * evaluation, as Keras's BatchNormalization. Scale (`gamma`) and shift
 * (`beta`) are plain parameters: no optimizer preconditions them. Both
 * modes use `tf.batchNorm`, the op tfjs-layers runs in inference, so an
 * export reproduces our evaluation outputs bit for bit.
 */
import * as tf from "@tensorflow/tfjs";
import {
  type BatchNormLayerSpec,
  type BatchNormPlan,
  batchNormPlanner,
} from "./batch_norm_plan.ts";
import type { LayerKind } from "./kind.ts";
import { activate } from "./linear_site.ts";

/** The `batch_norm` kind. */
export const batchNorm: LayerKind<typeof BatchNormLayerSpec, BatchNormPlan> = {
  ...batchNormPlanner,
  build(plan) {
    const c = [plan.channels];
    const [gamma, beta, movingMean, movingVariance] = tf.tidy(() => [
      tf.variable(tf.ones(c), true),
      tf.variable(tf.zeros(c), true),
      tf.variable(tf.zeros(c), false),
      tf.variable(tf.ones(c), false),
    ]);
    const named = (part: string, v: tf.Variable): [string, tf.Variable] => [
      `${plan.name}/${part}`,
      v,
    ];
    return {
      sites: [],
      plain: [
        { name: `${plan.name}/gamma`, variable: gamma },
        { name: `${plan.name}/beta`, variable: beta },
      ],
      variables: () => [
        named("gamma", gamma),
        named("beta", beta),
        named("moving_mean", movingMean),
        named("moving_variance", movingVariance),
      ],
      forward(x, pass) {
        let y: tf.Tensor;
        if (pass.mode === "train") {
          // Biased batch variance, as Keras and tfjs-layers use for both
          // the normalisation and the running average.
          const { mean, variance } = tf.moments(x, plan.axes);
          const keep = plan.momentum;
          movingMean.assign(
            tf.add(tf.mul(movingMean, keep), tf.mul(mean, 1 - keep)),
          );
          movingVariance.assign(
            tf.add(tf.mul(movingVariance, keep), tf.mul(variance, 1 - keep)),
          );
          y = tf.batchNorm(x, mean, variance, beta, gamma, plan.epsilon);
        } else {
          y = tf.batchNorm(
            x,
            movingMean,
            movingVariance,
            beta,
            gamma,
            plan.epsilon,
          );
        }
        return activate(y, plan.activation);
      },
      exportTo(sink, x) {
        const y = sink.apply(
          tf.layers.batchNormalization({
            ...sink.inputConfig(),
            axis: -1,
            momentum: plan.momentum,
            epsilon: plan.epsilon,
          }),
          x,
          () => [gamma, beta, movingMean, movingVariance],
        );
        if (plan.activation === "linear") return y;
        return sink.apply(
          tf.layers.activation({ activation: plan.activation }),
          y,
        );
      },
    };
  },
};
