/** `dense`: a linear site over the layer's inputs, then the activation. */
import * as tf from "@tensorflow/tfjs";
import {
  type DenseLayerSpec,
  type DensePlan,
  densePlanner,
} from "./dense_plan.ts";
import type { LayerKind } from "./kind.ts";
import {
  activate,
  createLinearSite,
  linearForward,
  siteVariables,
} from "./linear_site.ts";

/** The `dense` kind. */
export const dense: LayerKind<typeof DenseLayerSpec, DensePlan> = {
  ...densePlanner,
  build(plan, ctx) {
    const site = createLinearSite(plan.sites[0], ctx, plan.activation);
    return {
      sites: [site],
      variables: () => siteVariables(site),
      forward: (x, pass) =>
        activate(
          linearForward(site, x as tf.Tensor2D, x.shape[0], pass),
          plan.activation,
        ),
      exportTo(sink) {
        const layer = tf.layers.dense({
          ...sink.inputConfig(),
          units: site.units,
          activation: plan.activation,
        });
        sink.add(layer, () => [site.kernel, site.bias]);
      },
    };
  },
};
