/** The pure half of `global_avg_pool2d`: its spec, shape inference and cost terms. */
import { z } from "zod";
import type { LayerPlanner, PlannedLayerBase } from "./kind.ts";

/** The mean of each channel over height and width: NHWC images to vectors. */
export const GlobalAvgPool2dLayerSpec = z.strictObject({
  type: z.literal("global_avg_pool2d"),
});

/** A global average pooling layer as planned. */
export type GlobalAvgPool2dPlan = PlannedLayerBase<"global_avg_pool2d">;

const inputFloats = (plan: GlobalAvgPool2dPlan, m: number) =>
  m * plan.input.reduce((a, b) => a * b, 1);

/** Shapes and costs of `global_avg_pool2d`. */
export const globalAvgPool2dPlanner: LayerPlanner<
  typeof GlobalAvgPool2dLayerSpec,
  GlobalAvgPool2dPlan
> = {
  type: "global_avg_pool2d",
  spec: GlobalAvgPool2dLayerSpec,
  logits: false,
  plan(_spec, ctx) {
    if (ctx.input.length !== 3) {
      throw ctx.fail(
        `global_avg_pool2d expects a 3-D input [height, width, channels], got [${ctx.input}]`,
      );
    }
    return { type: "global_avg_pool2d", output: [ctx.input[2]], sites: [] };
  },
  // The (M, C) means.
  forwardFloats: (plan, m) => m * plan.output[0],
  // Its gradient broadcasts each mean's back over the image: input-sized.
  backwardFloats: (plan, m, inputGradient) =>
    inputGradient ? inputFloats(plan, m) : 0,
  flops: (plan, m) => ({
    forward: inputFloats(plan, m),
    backward: inputFloats(plan, m),
  }),
};
