/** The pure half of `dropout`: its spec, shape inference and cost terms. */
import { z } from "zod";
import type { LayerPlanner, PlannedLayerBase } from "./kind.ts";

/** Inverted dropout: in training, zeroes each value with probability `rate` and scales the rest by `1 / (1 - rate)`. */
export const DropoutLayerSpec = z.strictObject({
  type: z.literal("dropout"),
  rate: z.number().min(0).max(0.95),
});

/** A dropout layer as planned. */
export interface DropoutPlan extends PlannedLayerBase<"dropout"> {
  rate: number;
  /** Its mask stream within a step: a hash of its name, so streams never shift when layers are added elsewhere. */
  stream: number;
}

/** FNV-1a of a layer's name: a stable 32-bit stream id. */
function streamOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  }
  return h | 0;
}

const size = (plan: DropoutPlan, m: number) =>
  m * plan.output.reduce((a, b) => a * b, 1);

/** Shapes and costs of `dropout`. */
export const dropoutPlanner: LayerPlanner<
  typeof DropoutLayerSpec,
  DropoutPlan
> = {
  type: "dropout",
  spec: DropoutLayerSpec,
  logits: false,
  plan: (spec, ctx) => ({
    type: "dropout",
    output: [...ctx.input],
    rate: spec.rate,
    stream: streamOf(ctx.name),
    sites: [],
  }),
  // Training: the mask and the product; evaluation: nothing (identity).
  forwardFloats: (plan, m, training) =>
    training && plan.rate > 0 ? 2 * size(plan, m) : 0,
  backwardFloats: () => 0,
  flops: (plan, m) => ({ forward: size(plan, m), backward: size(plan, m) }),
};
