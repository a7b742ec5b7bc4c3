/** The pure half of `position_embedding`: its spec, shape inference and cost terms. */
import { z } from "zod";
import { positiveInt } from "../spec_fields.ts";
import type { LayerPlanner, PlannedLayerBase, PlannedSite } from "./kind.ts";

/**
 * Learned positions added to a sequence [T, D]: `y_t = x_t + P_t`, with a
 * (max_length, D) table of which the first T rows are used.
 */
export const PositionEmbeddingLayerSpec = z.strictObject({
  type: z.literal("position_embedding"),
  max_length: positiveInt("max_length", 65536),
});

/**
 * A position embedding as planned. Its table is a preconditioned, bias-less
 * site: a linear map of `a_it = onehot(t)`, whose pre-activation
 * is the sum `x + P`. Preconditioning it costs one (M, T D) product per
 * Gram matrix (embedding_site.ts), so there is no reason to leave it plain.
 */
export interface PositionEmbeddingPlan
  extends PlannedLayerBase<"position_embedding"> {
  sites: [PlannedSite];
}

/** Shapes and costs of `position_embedding`. */
export const positionEmbeddingPlanner: LayerPlanner<
  typeof PositionEmbeddingLayerSpec,
  PositionEmbeddingPlan
> = {
  type: "position_embedding",
  spec: PositionEmbeddingLayerSpec,
  logits: false,
  plan(spec, ctx) {
    if (ctx.input.length !== 2) {
      throw ctx.fail(
        `position_embedding expects a sequence [length, features], got shape [${ctx.input}]; put it after an embedding`,
      );
    }
    const [length, dim] = ctx.input;
    if (length > spec.max_length) {
      throw ctx.fail(
        `max_length must be at least the sequence length ${length}, got ${spec.max_length}`,
        "max_length",
      );
    }
    const output = [length, dim];
    return {
      type: "position_embedding",
      output,
      sites: [ctx.site({
        fanIn: spec.max_length,
        units: dim,
        positions: length,
        output,
        withoutBias: true,
        oneHot: "positions",
      })],
    };
  },
  // The sliced table, the sum, in training the probe and its sum.
  forwardFloats: (plan, m, training) =>
    (training ? 3 : 1) * m * plan.output[0] * plan.output[1],
  backwardFloats: () => 0,
  flops: (plan, m) => ({
    forward: 2 * m * plan.output[0] * plan.output[1],
    backward: m * plan.output[0] * plan.output[1],
  }),
};
