/** `max_pool2d`: no weights, no sites; TF.js's own max pooling. */
import * as tf from "@tensorflow/tfjs";
import type { LayerKind } from "./kind.ts";
import {
  type MaxPool2dLayerSpec,
  type MaxPool2dPlan,
  maxPool2dPlanner,
} from "./max_pool2d_plan.ts";

/** The `max_pool2d` kind. */
export const maxPool2d: LayerKind<typeof MaxPool2dLayerSpec, MaxPool2dPlan> = {
  ...maxPool2dPlanner,
  build: (plan) => ({
    sites: [],
    plain: [],
    variables: () => [],
    forward: (x) =>
      tf.maxPool(x as tf.Tensor4D, plan.pool, plan.strides, plan.padding),
    exportTo: (sink, x) =>
      sink.apply(
        tf.layers.maxPooling2d({
          ...sink.inputConfig(),
          poolSize: plan.pool,
          strides: plan.strides,
          padding: plan.padding,
        }),
        x,
      ),
  }),
};
