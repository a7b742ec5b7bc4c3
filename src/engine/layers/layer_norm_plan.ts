/** The pure half of `layer_norm`: its spec, shape inference and cost terms. */
import { z } from "zod";
import type { LayerPlanner, PlannedLayerBase } from "./kind.ts";

/**
 * Normalisation over the last axis of each sample (each position of a
 * sequence), then a learned gain and bias, as PyTorch's LayerNorm (biased
 * variance, `epsilon` inside the square root).
 */
export const LayerNormLayerSpec = z.strictObject({
  type: z.literal("layer_norm"),
  epsilon: z.number().positive().max(1).default(1e-5),
});

/** A layer norm as planned. */
export interface LayerNormPlan extends PlannedLayerBase<"layer_norm"> {
  /** Prefix of its variables: `<name>/gamma`, `<name>/beta`. */
  name: string;
  /** Normalised features: the input's last axis. */
  features: number;
  epsilon: number;
  /** gamma and beta. */
  plainParams: number;
}

const size = (plan: LayerNormPlan, m: number) =>
  m * plan.output.reduce((a, b) => a * b, 1);

/** Shapes and costs of `layer_norm`. */
export const layerNormPlanner: LayerPlanner<
  typeof LayerNormLayerSpec,
  LayerNormPlan
> = {
  type: "layer_norm",
  spec: LayerNormLayerSpec,
  logits: false,
  plan(spec, ctx) {
    const features = ctx.input[ctx.input.length - 1];
    return {
      type: "layer_norm",
      output: [...ctx.input],
      name: ctx.name,
      features,
      epsilon: spec.epsilon,
      sites: [],
      plainParams: 2 * features,
    };
  },
  // x - mean, its square, the normalised value, times gamma, plus beta.
  forwardFloats: (plan, m) => 5 * size(plan, m),
  backwardFloats: (plan, m) => 4 * size(plan, m),
  flops: (plan, m) => ({
    forward: 8 * size(plan, m),
    backward: 14 * size(plan, m),
  }),
};
