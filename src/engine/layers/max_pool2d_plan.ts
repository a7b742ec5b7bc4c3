/** The pure half of `max_pool2d`: its spec, shape inference and cost terms. */
import { z } from "zod";
import {
  pair,
  patchGeometry,
  windowPadding,
  windowSize,
  windowStrides,
} from "./geometry.ts";
import type { LayerPlanner, PlannedLayerBase } from "./kind.ts";

/** Max pooling; `strides` defaults to `pool_size`. */
export const MaxPool2dLayerSpec = z.strictObject({
  type: z.literal("max_pool2d"),
  pool_size: windowSize.default(2),
  strides: windowStrides().optional(),
  padding: windowPadding(),
});

/** A max pooling layer as planned. */
export interface MaxPool2dPlan extends PlannedLayerBase<"max_pool2d"> {
  pool: [number, number];
  strides: [number, number];
  padding: "valid" | "same";
}

const outputFloats = (plan: MaxPool2dPlan, m: number) =>
  m * plan.output.reduce((a, b) => a * b, 1);

/** Shapes and costs of `max_pool2d`. */
export const maxPool2dPlanner: LayerPlanner<
  typeof MaxPool2dLayerSpec,
  MaxPool2dPlan
> = {
  type: "max_pool2d",
  spec: MaxPool2dLayerSpec,
  logits: false,
  plan(spec, ctx) {
    const shape = ctx.input;
    if (shape.length !== 3) {
      throw ctx.fail(
        `max_pool2d expects a 3-D input [height, width, channels], got [${shape}]`,
      );
    }
    const pool = pair(spec.pool_size);
    const strides = pair(spec.strides ?? spec.pool_size);
    const g = patchGeometry(
      shape as [number, number, number],
      pool,
      strides,
      spec.padding,
    );
    if (g.outHeight < 1 || g.outWidth < 1) {
      throw ctx.fail(
        `pool [${pool}] does not fit input [${shape}] with padding ${spec.padding}; use a pool of at most ${
          shape[0]
        }x${shape[1]} or padding "same"`,
        "pool_size",
      );
    }
    return {
      type: "max_pool2d",
      output: [g.outHeight, g.outWidth, shape[2]],
      pool,
      strides,
      padding: spec.padding,
      sites: [],
    };
  },
  forwardFloats: outputFloats,
  backwardFloats: () => 0,
  flops(plan, m) {
    const window = plan.pool[0] * plan.pool[1];
    return {
      forward: outputFloats(plan, m) * window,
      backward: outputFloats(plan, m) * window,
    };
  },
};
