/** The pure half of `batch_norm`: its spec, shape inference and cost terms. */
import { z } from "zod";
import { type Activation, activation } from "../spec_fields.ts";
import type { LayerPlanner, PlannedLayerBase } from "./kind.ts";

/**
 * Batch normalisation over the last axis (per channel of NHWC images, per
 * feature of vectors), then an optional activation. `momentum` and
 * `epsilon` mean what they mean in Keras.
 */
export const BatchNormLayerSpec = z.strictObject({
  type: z.literal("batch_norm"),
  momentum: z.number().min(0).max(0.9999).default(0.99).describe(
    "running statistics decay: moving = momentum * moving + (1 - momentum) * batch",
  ),
  epsilon: z.number().positive().max(1).default(1e-3),
  activation: activation(),
});

/** A batch-norm layer as planned. */
export interface BatchNormPlan extends PlannedLayerBase<"batch_norm"> {
  /** Prefix of its variables: `<name>/gamma`, `<name>/moving_mean`, ... */
  name: string;
  /** Normalised features: the input's last axis. */
  channels: number;
  /** Axes of a batch tensor the statistics reduce over: all but the last. */
  axes: number[];
  momentum: number;
  epsilon: number;
  activation: Activation;
  /** gamma and beta. */
  plainParams: number;
  /** The running mean and variance. */
  stateFloats: number;
}

const size = (plan: BatchNormPlan, m: number) =>
  m * plan.output.reduce((a, b) => a * b, 1);

/** Shapes and costs of `batch_norm`. */
export const batchNormPlanner: LayerPlanner<
  typeof BatchNormLayerSpec,
  BatchNormPlan
> = {
  type: "batch_norm",
  spec: BatchNormLayerSpec,
  logits: false,
  plan(spec, ctx) {
    const channels = ctx.input[ctx.input.length - 1];
    return {
      type: "batch_norm",
      output: [...ctx.input],
      name: ctx.name,
      channels,
      axes: ctx.input.map((_, i) => i), // batch axis 0 and all but the last
      momentum: spec.momentum,
      epsilon: spec.epsilon,
      activation: spec.activation,
      sites: [],
      plainParams: 2 * channels,
      stateFloats: 2 * channels,
    };
  },
  forwardFloats(plan, m, training) {
    // Training: tf.moments' squared differences and the normalised output;
    // evaluation: the output. Per-channel vectors are negligible.
    const act = plan.activation === "linear" ? 0 : 1;
    return size(plan, m) * ((training ? 2 : 1) + act);
  },
  // batchNorm's gradient: x - mean, its scaled products, and the gradients
  // through the batch mean and variance back to x.
  backwardFloats: (plan, m) => 4 * size(plan, m),
  flops: (plan, m) => ({
    forward: 8 * size(plan, m),
    backward: 14 * size(plan, m),
  }),
};
