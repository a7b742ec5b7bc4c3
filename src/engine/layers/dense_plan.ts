/** The pure half of `dense`: its spec, shape inference and cost terms. */
import { z } from "zod";
import { type Activation, activation, positiveInt } from "../spec_fields.ts";
import type { LayerPlanner, PlannedLayerBase, PlannedSite } from "./kind.ts";
import { siteFlops, siteOutputFloats } from "./linear_cost.ts";

/** A fully connected layer: `y = act(x W + b)`, position-wise on a sequence. */
export const DenseLayerSpec = z.strictObject({
  type: z.literal("dense"),
  units: positiveInt("units", 8192),
  activation: activation(),
});

/** A dense layer as planned: one weight site over its inputs. */
export interface DensePlan extends PlannedLayerBase<"dense"> {
  activation: Activation;
  sites: [PlannedSite];
}

/** Shapes and costs of `dense`. */
export const densePlanner: LayerPlanner<typeof DenseLayerSpec, DensePlan> = {
  type: "dense",
  spec: DenseLayerSpec,
  logits: true,
  plan(spec, ctx) {
    // A vector, or a sequence [T, D] taken position-wise: its rows are the
    // T positions, and its site math is conv's (`G_i = sum_t a_it e_it^T`).
    if (ctx.input.length !== 1 && ctx.input.length !== 2) {
      throw ctx.fail(
        `dense expects a flat input, got shape [${ctx.input}]; add a flatten layer before it`,
      );
    }
    const sequence = ctx.input.length === 2;
    const output = sequence ? [ctx.input[0], spec.units] : [spec.units];
    return {
      type: "dense",
      output,
      activation: spec.activation,
      sites: [
        ctx.site({
          fanIn: ctx.input[ctx.input.length - 1],
          units: spec.units,
          positions: sequence ? ctx.input[0] : 1,
          output,
        }),
      ],
    };
  },
  forwardFloats: (plan, m, training) =>
    siteOutputFloats(plan.sites[0], plan.activation, m, training),
  backwardFloats: () => 0,
  flops: (plan, m, inputGradient) => siteFlops(plan.sites[0], m, inputGradient),
};
