/** The pure half of `avg_pool2d`: its spec, shape inference and cost terms. */
import { z } from "zod";
import type { LayerPlanner } from "./kind.ts";
import {
  MaxPool2dLayerSpec,
  type MaxPool2dPlan,
  outputFloats,
  planPool,
  poolFlops,
} from "./max_pool2d_plan.ts";

/** Average pooling; fields as `max_pool2d` (`strides` defaults to `pool_size`). */
export const AvgPool2dLayerSpec = MaxPool2dLayerSpec.extend({
  type: z.literal("avg_pool2d"),
});

/** An average pooling layer as planned. */
export interface AvgPool2dPlan extends Omit<MaxPool2dPlan, "type"> {
  type: "avg_pool2d";
}

/** Shapes and costs of `avg_pool2d`. */
export const avgPool2dPlanner: LayerPlanner<
  typeof AvgPool2dLayerSpec,
  AvgPool2dPlan
> = {
  type: "avg_pool2d",
  spec: AvgPool2dLayerSpec,
  logits: false,
  plan: (spec, ctx) => ({
    type: "avg_pool2d",
    ...planPool("avg_pool2d", spec, ctx),
    sites: [],
  }),
  forwardFloats: outputFloats,
  // Its gradient spreads each output's over its window: an input-sized tensor.
  backwardFloats: (plan, m, inputGradient) =>
    inputGradient ? m * plan.input.reduce((a, b) => a * b, 1) : 0,
  flops: poolFlops,
};
