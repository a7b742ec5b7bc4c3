/**
 * `embedding`: token ids [M, T] to vectors [M, T, dim] by a table lookup.
 * Its table is a preconditioned site with one-hot rows (embedding_site.ts).
 */
import * as tf from "@tensorflow/tfjs";
import {
  type EmbeddingLayerSpec,
  type EmbeddingPlan,
  embeddingPlanner,
} from "./embedding_plan.ts";
import {
  createTableSite,
  probeTable,
  tokenSiteMath,
} from "./embedding_site.ts";
import type { LayerKind } from "./kind.ts";
import { siteVariables } from "./linear_site.ts";
import { exportUnsupported } from "./sequence_export.ts";

/** The `embedding` kind. */
export const embedding: LayerKind<typeof EmbeddingLayerSpec, EmbeddingPlan> = {
  ...embeddingPlanner,
  build(plan, ctx) {
    const planned = plan.sites[0];
    const site = createTableSite(planned, ctx, tokenSiteMath(planned.fanIn));
    return {
      sites: [site],
      plain: [],
      variables: () => siteVariables(site),
      forward(x, pass) {
        const m = x.shape[0];
        const ids = tf.reshape(tf.cast(x, "int32"), [-1]) as tf.Tensor1D;
        // [M, T, dim] with T from x: rows may be shorter than planned.
        const s = tf.reshape(tf.gather(site.kernel, ids), [m, -1, site.units]);
        return probeTable(
          site,
          s,
          () => tf.reshape(ids, [-1, 1]) as tf.Tensor2D,
          pass,
        );
      },
      exportTo: () => exportUnsupported("embedding"),
    };
  },
};
