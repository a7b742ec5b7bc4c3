/** `avg_pool2d`: no weights, no sites; TF.js's own average pooling. */
import * as tf from "@tensorflow/tfjs";
import {
  type AvgPool2dLayerSpec,
  type AvgPool2dPlan,
  avgPool2dPlanner,
} from "./avg_pool2d_plan.ts";
import type { LayerKind } from "./kind.ts";

/** The `avg_pool2d` kind. */
export const avgPool2d: LayerKind<typeof AvgPool2dLayerSpec, AvgPool2dPlan> = {
  ...avgPool2dPlanner,
  build: (plan) => ({
    sites: [],
    plain: [],
    variables: () => [],
    forward: (x) =>
      tf.avgPool(x as tf.Tensor4D, plan.pool, plan.strides, plan.padding),
    exportTo: (sink, x) =>
      sink.apply(
        tf.layers.averagePooling2d({
          ...sink.inputConfig(),
          poolSize: plan.pool,
          strides: plan.strides,
          padding: plan.padding,
        }),
        x,
      ),
  }),
};
