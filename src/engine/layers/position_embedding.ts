/** `position_embedding`: `x + P[:T]`, the table a preconditioned site (embedding_site.ts). */
import * as tf from "@tensorflow/tfjs";
import {
  createTableSite,
  positionSiteMath,
  probeTable,
} from "./embedding_site.ts";
import type { LayerKind } from "./kind.ts";
import { siteVariables } from "./linear_site.ts";
import {
  type PositionEmbeddingLayerSpec,
  type PositionEmbeddingPlan,
  positionEmbeddingPlanner,
} from "./position_embedding_plan.ts";
import { exportUnsupported } from "./sequence_export.ts";

/** The `position_embedding` kind. */
export const positionEmbedding: LayerKind<
  typeof PositionEmbeddingLayerSpec,
  PositionEmbeddingPlan
> = {
  ...positionEmbeddingPlanner,
  build(plan, ctx) {
    const planned = plan.sites[0];
    const site = createTableSite(planned, ctx, positionSiteMath(planned.fanIn));
    const dim = plan.output[1];
    return {
      sites: [site],
      plain: [],
      variables: () => siteVariables(site),
      forward(x, pass) {
        // Rows may be shorter than planned (greedy decoding cuts them).
        const [m, length] = x.shape;
        const table = length === planned.fanIn
          ? site.kernel
          : tf.slice(site.kernel, [0, 0], [length, dim]);
        return probeTable(
          site,
          tf.add(x, table),
          () =>
            tf.reshape(
              tf.tile(tf.range(0, length, 1, "int32"), [m]),
              [-1, 1],
            ) as tf.Tensor2D,
          pass,
        );
      },
      exportTo: () => exportUnsupported("position_embedding"),
    };
  },
};
