/** The pure half of `multi_head_attention`: its spec, shape inference and cost terms. */
import { z } from "zod";
import { positiveInt } from "../spec_fields.ts";
import type { LayerPlanner, PlannedLayerBase, PlannedSite } from "./kind.ts";
import { siteFlops, siteOutputFloats } from "./linear_cost.ts";

/**
 * Self-attention over a sequence [T, D] with `heads` heads of D / heads
 * features: `softmax(Q K^T / sqrt(d_head) + mask) V`, then an output
 * projection. `causal` masks keys after the query; padding keys (token 0)
 * are always masked.
 */
export const MultiHeadAttentionLayerSpec = z.strictObject({
  type: z.literal("multi_head_attention"),
  heads: positiveInt("heads", 256),
  causal: z.boolean().default(false).describe(
    "mask keys after each query position (a decoder)",
  ),
});

/**
 * An attention layer as planned: four linear sites applied at the T
 * positions (query, key, value, output), each D -> D with a bias. Their
 * per-sample gradients are `sum_t a_it e_it^T`, so their math is conv's
 * with positions for patches (linear_site.ts).
 */
export interface MultiHeadAttentionPlan
  extends PlannedLayerBase<"multi_head_attention"> {
  heads: number;
  causal: boolean;
  sites: [PlannedSite, PlannedSite, PlannedSite, PlannedSite];
}

/** Site parts in forward order. */
export const ATTENTION_PARTS = ["query", "key", "value", "output"] as const;

/** Floats of the score-shaped tensors: M heads T T each. */
const scores = (plan: MultiHeadAttentionPlan, m: number) =>
  m * plan.heads * plan.output[0] * plan.output[0];

/** Shapes and costs of `multi_head_attention`. */
export const multiHeadAttentionPlanner: LayerPlanner<
  typeof MultiHeadAttentionLayerSpec,
  MultiHeadAttentionPlan
> = {
  type: "multi_head_attention",
  spec: MultiHeadAttentionLayerSpec,
  logits: false,
  plan(spec, ctx) {
    if (ctx.input.length !== 2) {
      throw ctx.fail(
        `multi_head_attention expects a sequence [length, features], got shape [${ctx.input}]`,
      );
    }
    const [length, dim] = ctx.input;
    if (dim % spec.heads !== 0) {
      throw ctx.fail(
        `heads must divide the ${dim} features, got ${spec.heads}`,
        "heads",
      );
    }
    const output = [length, dim];
    const [q, k, v, o] = ATTENTION_PARTS.map((part) =>
      ctx.site({ fanIn: dim, units: dim, positions: length, output }, part)
    );
    return {
      type: "multi_head_attention",
      output,
      heads: spec.heads,
      causal: spec.causal,
      sites: [q, k, v, o],
    };
  },
  forwardFloats(plan, m, training) {
    const values = m * plan.output[0] * plan.output[1];
    const sites = plan.sites.reduce(
      (n, s) => n + siteOutputFloats(s, "linear", m, training),
      0,
    );
    // Head splits of Q, K, V and the merged context (2 each); scores,
    // scaled, masked, softmax and its reshape.
    return sites + 8 * values + 5 * scores(plan, m);
  },
  backwardFloats: (plan, m) => 3 * scores(plan, m),
  flops(plan, m, inputGradient) {
    const [t, d] = plan.output;
    let forward = 0;
    let backward = 0;
    plan.sites.forEach((s, i) => {
      // Only the query, key and value projections see the layer's input.
      const f = siteFlops(s, m, i === 3 || inputGradient);
      forward += f.forward;
      backward += f.backward;
    });
    const products = 2 * 2 * m * t * t * d; // Q K^T and P V
    return {
      forward: forward + products + 5 * scores(plan, m),
      backward: backward + 2 * products + 5 * scores(plan, m),
    };
  },
};
