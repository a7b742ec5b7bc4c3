/** `dense`: a linear site over the layer's inputs, then the activation. */
import * as tf from "@tensorflow/tfjs";
import {
  type DenseLayerSpec,
  type DensePlan,
  densePlanner,
} from "./dense_plan.ts";
import type { LayerKind } from "./kind.ts";
import { createLinearSite, denseOutput, siteVariables } from "./linear_site.ts";

/** The `dense` kind. */
export const dense: LayerKind<typeof DenseLayerSpec, DensePlan> = {
  ...densePlanner,
  build(plan, ctx) {
    const site = createLinearSite(plan.sites[0], ctx, plan.activation);
    return {
      sites: [site],
      plain: [],
      variables: () => siteVariables(site),
      forward: (x, pass) => denseOutput(site, x, plan.activation, pass),
      exportTo(sink, x) {
        const layer = tf.layers.dense({
          ...sink.inputConfig(),
          units: site.units,
          activation: plan.activation,
        });
        return sink.apply(layer, x, () => [site.kernel, site.bias]);
      },
    };
  },
};
