/** The pure half of `flatten`: its spec and shape inference; it costs nothing. */
import { z } from "zod";
import type { LayerPlanner, PlannedLayerBase } from "./kind.ts";

/** Flattens NHWC feature maps into vectors. */
export const FlattenLayerSpec = z.strictObject({ type: z.literal("flatten") });

/** A flatten layer as planned. */
export type FlattenPlan = PlannedLayerBase<"flatten">;

/** Shapes and costs of `flatten`. */
export const flattenPlanner: LayerPlanner<
  typeof FlattenLayerSpec,
  FlattenPlan
> = {
  type: "flatten",
  spec: FlattenLayerSpec,
  logits: false,
  plan: (_spec, ctx) => ({
    type: "flatten",
    output: [ctx.input.reduce((a, b) => a * b, 1)],
    sites: [],
  }),
  // A reshape: it shares its input's buffer and does no arithmetic.
  forwardFloats: () => 0,
  backwardFloats: () => 0,
  flops: () => ({ forward: 0, backward: 0 }),
};
