/**
 * The layer kinds by `type`: the registry the model builds through, and the
 * types of the kind interface. The pure halves and the spec union are in
 * plans.ts, which admission imports directly: this module loads TF.js.
 */
import type { z } from "zod";
import { avgPool2d } from "./avg_pool2d.ts";
import { batchNorm } from "./batch_norm.ts";
import { conv2d } from "./conv2d.ts";
import { dense } from "./dense.ts";
import { dropout } from "./dropout.ts";
import { embedding } from "./embedding.ts";
import { flatten } from "./flatten.ts";
import { globalAvgPool2d } from "./global_avg_pool2d.ts";
import type { LayerKind } from "./kind.ts";
import { layerNorm } from "./layer_norm.ts";
import { maxPool2d } from "./max_pool2d.ts";
import { multiHeadAttention } from "./multi_head_attention.ts";
import { positionEmbedding } from "./position_embedding.ts";
import { residual } from "./residual.ts";
import type {
  LAYER_PLANNERS,
  LayerSpec,
  LayerType,
  PlannedLayer,
  PlanOf,
} from "./plans.ts";

export type * from "./kind.ts";

/** Every kind by the `type` it builds; its planner half must be the registered one's. */
export const LAYER_KINDS: {
  [T in LayerType]: LayerKind<(typeof LAYER_PLANNERS)[T]["spec"], PlanOf<T>>;
} = {
  dense,
  conv2d,
  max_pool2d: maxPool2d,
  avg_pool2d: avgPool2d,
  global_avg_pool2d: globalAvgPool2d,
  flatten,
  batch_norm: batchNorm,
  dropout,
  residual,
  embedding,
  position_embedding: positionEmbedding,
  layer_norm: layerNorm,
  multi_head_attention: multiHeadAttention,
};

/** The kind of `type`. */
export function kindOf(
  type: LayerType,
): LayerKind<z.ZodType<LayerSpec>, PlannedLayer> {
  // Keyed by type, and callers pass a plan of that type; TypeScript cannot
  // correlate the two unions, hence the cast.
  return LAYER_KINDS[type] as unknown as LayerKind<
    z.ZodType<LayerSpec>,
    PlannedLayer
  >;
}
