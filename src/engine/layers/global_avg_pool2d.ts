/** `global_avg_pool2d`: the per-channel mean, as tfjs-layers computes it. */
import * as tf from "@tensorflow/tfjs";
import {
  type GlobalAvgPool2dLayerSpec,
  type GlobalAvgPool2dPlan,
  globalAvgPool2dPlanner,
} from "./global_avg_pool2d_plan.ts";
import type { LayerKind } from "./kind.ts";

/** The `global_avg_pool2d` kind. */
export const globalAvgPool2d: LayerKind<
  typeof GlobalAvgPool2dLayerSpec,
  GlobalAvgPool2dPlan
> = {
  ...globalAvgPool2dPlanner,
  build: () => ({
    sites: [],
    plain: [],
    variables: () => [],
    forward: (x) => tf.mean(x, [1, 2]),
    exportTo: (sink, x) =>
      sink.apply(tf.layers.globalAveragePooling2d(sink.inputConfig()), x),
  }),
};
