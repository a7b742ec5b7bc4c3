/** The pure half of `max_pool2d`: its spec, shape inference and cost terms. */
import { z } from "zod";
import {
  pair,
  patchGeometry,
  windowPadding,
  windowSize,
  windowStrides,
} from "./geometry.ts";
import type { LayerPlanner, PlanContext, PlannedLayerBase } from "./kind.ts";

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

/** Floats of a pool's output over `m` rows. */
export const outputFloats = (plan: { output: number[] }, m: number) =>
  m * plan.output.reduce((a, b) => a * b, 1);

/** A pooling layer's shared fields as planned (max_pool2d, avg_pool2d). */
export type PoolFields = Pick<
  MaxPool2dPlan,
  "output" | "pool" | "strides" | "padding"
>;

/**
 * Shape inference of a window pool (`type` names it in messages).
 * @throws {EngineError} `invalid_spec` for a non-image input or a pool that
 * does not fit it.
 */
export function planPool(
  type: string,
  spec: Omit<z.output<typeof MaxPool2dLayerSpec>, "type">,
  ctx: PlanContext,
): PoolFields {
  const shape = ctx.input;
  if (shape.length !== 3) {
    throw ctx.fail(
      `${type} expects a 3-D input [height, width, channels], got [${shape}]`,
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
    output: [g.outHeight, g.outWidth, shape[2]],
    pool,
    strides,
    padding: spec.padding,
  };
}

/** FLOPs of a window pool: every output reads its window, forward and back. */
export function poolFlops(plan: PoolFields, m: number) {
  const window = plan.pool[0] * plan.pool[1];
  return {
    forward: outputFloats(plan, m) * window,
    backward: outputFloats(plan, m) * window,
  };
}

/** Shapes and costs of `max_pool2d`. */
export const maxPool2dPlanner: LayerPlanner<
  typeof MaxPool2dLayerSpec,
  MaxPool2dPlan
> = {
  type: "max_pool2d",
  spec: MaxPool2dLayerSpec,
  logits: false,
  plan: (spec, ctx) => ({
    type: "max_pool2d",
    ...planPool("max_pool2d", spec, ctx),
    sites: [],
  }),
  forwardFloats: outputFloats,
  backwardFloats: () => 0,
  flops: poolFlops,
};
