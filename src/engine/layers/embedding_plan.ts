/**
 * The pure half of `embedding`: its spec, shape inference, cost terms, and
 * the choice of Gram formula (shared by the Gram code and the estimate).
 */
import { z } from "zod";
import { positiveInt } from "../spec_fields.ts";
import type { LayerPlanner, PlannedLayerBase, PlannedSite } from "./kind.ts";

/** Token ids [T] to vectors [T, dim]: a lookup in a (vocab, dim) table. */
export const EmbeddingLayerSpec = z.strictObject({
  type: z.literal("embedding"),
  vocab: positiveInt("vocab", 1_000_000),
  dim: positiveInt("dim", 8192),
});

/** An embedding as planned: one bias-less site whose rows are one-hot token ids. */
export interface EmbeddingPlan extends PlannedLayerBase<"embedding"> {
  sites: [PlannedSite];
}

/** How an embedding's Gram matrix is formed; both give the same K. */
export type EmbeddingGramMethod = "pairwise" | "per_sample";

/** Floats either Gram formula may materialise before the other is preferred. */
const GRAM_FLOAT_CAP = 4_000_000;

/**
 * Picks the embedding Gram formula for M samples of T tokens. With one-hot
 * rows, `K_ij = sum_{t,s} [x_it == x_js] (e_it . e_js)`:
 * - `pairwise`: `E E^T` over the R = M T positions, masked by token
 *   equality, summed in T x T blocks: `2 R^2 D` flops, about `3 R^2` floats;
 * - `per_sample`: scatter-add each sample's `e` into its own (vocab, D)
 *   gradient, then `flat(G) flat(G)^T`: `2 M^2 V D` flops, `2 M V D` floats.
 * Pairwise wins unless the vocabulary is small against `T^2`; the cheaper in
 * flops is taken while it fits the cap, else the smaller in memory.
 */
export function chooseEmbeddingGram(
  m: number,
  positions: number,
  vocab: number,
  dim: number,
): EmbeddingGramMethod {
  const rows = m * positions;
  const pairwise = {
    flops: 2 * rows * rows * (dim + 1),
    floats: 3 * rows * rows,
  };
  const perSample = {
    flops: 2 * m * m * vocab * dim,
    floats: 2 * m * vocab * dim,
  };
  const byFlops = pairwise.flops <= perSample.flops ? "pairwise" : "per_sample";
  const chosen = byFlops === "pairwise" ? pairwise : perSample;
  if (chosen.floats <= GRAM_FLOAT_CAP) return byFlops;
  return pairwise.floats <= perSample.floats ? "pairwise" : "per_sample";
}

/** Shapes and costs of `embedding`. */
export const embeddingPlanner: LayerPlanner<
  typeof EmbeddingLayerSpec,
  EmbeddingPlan
> = {
  type: "embedding",
  spec: EmbeddingLayerSpec,
  logits: false,
  plan(spec, ctx) {
    if (ctx.input.length !== 1 || ctx.inputGradient) {
      throw ctx.fail(
        `embedding expects the model's token ids [length] as its input, got shape [${ctx.input}]${
          ctx.inputGradient ? " after a trainable layer" : ""
        }; make it the first layer with input_shape [length]`,
      );
    }
    const length = ctx.input[0];
    const output = [length, spec.dim];
    return {
      type: "embedding",
      output,
      sites: [ctx.site({
        fanIn: spec.vocab,
        units: spec.dim,
        positions: length,
        output,
        withoutBias: true,
        oneHot: "tokens",
      })],
    };
  },
  // The gathered rows, in training the probe and the sum.
  forwardFloats: (plan, m, training) =>
    (training ? 3 : 1) * m * plan.output[0] * plan.output[1],
  backwardFloats: () => 0,
  flops: (plan, m) => ({
    forward: 3 * m * plan.output[0] * plan.output[1],
    backward: m * plan.output[0] * plan.output[1],
  }),
};
