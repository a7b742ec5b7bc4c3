/** `flatten`: a reshape to one vector per sample. */
import * as tf from "@tensorflow/tfjs";
import {
  type FlattenLayerSpec,
  type FlattenPlan,
  flattenPlanner,
} from "./flatten_plan.ts";
import type { LayerKind } from "./kind.ts";

/** The `flatten` kind. */
export const flatten: LayerKind<typeof FlattenLayerSpec, FlattenPlan> = {
  ...flattenPlanner,
  build: () => ({
    sites: [],
    plain: [],
    variables: () => [],
    forward: (x) => tf.reshape(x, [x.shape[0], -1]),
    exportTo: (sink, x) => sink.apply(tf.layers.flatten(sink.inputConfig()), x),
  }),
};
