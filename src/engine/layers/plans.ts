/**
 * The pure registry: every layer kind's planner, and the layer spec union
 * built from their schemas. Shape inference and the cost estimate dispatch
 * through it; it loads no TF.js, so the API can admit jobs with it.
 *
 * Adding a kind: its `<kind>_plan.ts` and `<kind>.ts`, one line in the union
 * and the registry below, one in `LAYER_KINDS` (mod.ts). The types make a
 * missing entry a compile error.
 */
import { z } from "zod";
import { avgPool2dPlanner } from "./avg_pool2d_plan.ts";
import { batchNormPlanner } from "./batch_norm_plan.ts";
import { conv2dPlanner } from "./conv2d_plan.ts";
import { densePlanner } from "./dense_plan.ts";
import { dropoutPlanner } from "./dropout_plan.ts";
import { embeddingPlanner } from "./embedding_plan.ts";
import { flattenPlanner } from "./flatten_plan.ts";
import { globalAvgPool2dPlanner } from "./global_avg_pool2d_plan.ts";
import type { LayerPlanner } from "./kind.ts";
import { layerNormPlanner } from "./layer_norm_plan.ts";
import { maxPool2dPlanner } from "./max_pool2d_plan.ts";
import { multiHeadAttentionPlanner } from "./multi_head_attention_plan.ts";
import { positionEmbeddingPlanner } from "./position_embedding_plan.ts";
import { residualPlanner } from "./residual_plan.ts";

/**
 * Any layer, discriminated by `type`. Recursive: a residual block's spec
 * refers back to this union through zod getters (residual_plan.ts).
 */
export const LayerSpec = z.discriminatedUnion("type", [
  densePlanner.spec,
  conv2dPlanner.spec,
  maxPool2dPlanner.spec,
  avgPool2dPlanner.spec,
  globalAvgPool2dPlanner.spec,
  flattenPlanner.spec,
  batchNormPlanner.spec,
  dropoutPlanner.spec,
  residualPlanner.spec,
  embeddingPlanner.spec,
  positionEmbeddingPlanner.spec,
  layerNormPlanner.spec,
  multiHeadAttentionPlanner.spec,
]).meta({
  // A named component, so the OpenAPI generator writes the recursion as a $ref.
  id: "LayerSpec",
});
/** A validated layer spec, defaults filled in. */
export type LayerSpec = z.infer<typeof LayerSpec>;
/** The layer kinds by name. */
export type LayerType = LayerSpec["type"];

/** Every planner by the `type` it plans. */
export const LAYER_PLANNERS = {
  dense: densePlanner,
  conv2d: conv2dPlanner,
  max_pool2d: maxPool2dPlanner,
  avg_pool2d: avgPool2dPlanner,
  global_avg_pool2d: globalAvgPool2dPlanner,
  flatten: flattenPlanner,
  batch_norm: batchNormPlanner,
  dropout: dropoutPlanner,
  residual: residualPlanner,
  embedding: embeddingPlanner,
  position_embedding: positionEmbeddingPlanner,
  layer_norm: layerNormPlanner,
  multi_head_attention: multiHeadAttentionPlanner,
} satisfies { [T in LayerType]: { type: T } };

/** The planned layer of kind `T`. */
export type PlanOf<T extends LayerType> = (typeof LAYER_PLANNERS)[T] extends
  LayerPlanner<infer _, infer P> ? P : never;
/** Any planned layer, discriminated by `type`. */
export type PlannedLayer = { [T in LayerType]: PlanOf<T> }[LayerType];

/** A planner that takes any spec and plan: each one gets only its own. */
type AnyPlanner = LayerPlanner<z.ZodType<LayerSpec>, PlannedLayer>;

/** The planner of `type`. */
export function plannerOf(type: LayerType): AnyPlanner {
  // The registry is keyed by type, and callers pass a spec or plan of that
  // type; TypeScript cannot correlate the two unions, hence the cast.
  return LAYER_PLANNERS[type] as unknown as AnyPlanner;
}
