/**
 * The pure half of `residual`: its recursive spec, shape inference and cost
 * terms. The block's own terms count only the sum (and the gradient fan-in
 * at its input); its nested layers count themselves (`children`).
 *
 * Only plans.ts may import this module by value: its spec refers back to the
 * layer union there (lazily, through zod getters), and plans.ts reads this
 * module's planner while it builds that union.
 */
import { z } from "zod";
import { type Activation, activation } from "../spec_fields.ts";
import type { LayerPlanner, PlannedLayerBase, PlannedSite } from "./kind.ts";
import { LayerSpec } from "./plans.ts";

/**
 * The static type of a nested layer spec, loosened: TypeScript cannot infer
 * a schema's type that contains itself through the union, so the getters
 * below are annotated with this and the planner narrows to `LayerSpec`. At
 * run time every nested layer is validated by the whole union.
 */
type NestedLayers = z.ZodType<{ type: string }[], unknown>;

/**
 * `activation(inner(x) + shortcut(x))`: `layers` is the inner branch and
 * `shortcut` (default empty: the identity) the other; both may nest blocks.
 */
export const ResidualLayerSpec = z.strictObject({
  type: z.literal("residual"),
  get layers(): NestedLayers {
    return z.array(LayerSpec).min(1).max(64);
  },
  get shortcut(): z.ZodDefault<NestedLayers> {
    return z.array(LayerSpec).max(64).default([]).describe(
      "layers on the skip path; empty (the default) is the identity",
    );
  },
  activation: activation(),
});

/** A residual block as planned: both branches, each a list of planned layers. */
export interface ResidualPlan extends PlannedLayerBase<"residual"> {
  layers: PlannedLayerBase[];
  shortcut: PlannedLayerBase[];
  activation: Activation;
  /** Every site of `layers`, then of `shortcut`. */
  sites: PlannedSite[];
  children: PlannedLayerBase[];
}

const size = (plan: ResidualPlan, m: number) =>
  m * plan.output.reduce((a, b) => a * b, 1);

/** Shapes and costs of `residual`. */
export const residualPlanner: LayerPlanner<
  typeof ResidualLayerSpec,
  ResidualPlan
> = {
  type: "residual",
  spec: ResidualLayerSpec,
  logits: false,
  plan(spec, ctx) {
    const inner = ctx.sequence(spec.layers as LayerSpec[], "layers");
    const skip = ctx.sequence(spec.shortcut as LayerSpec[], "shortcut");
    const same = inner.output.length === skip.output.length &&
      inner.output.every((d, i) => d === skip.output[i]);
    if (!same) {
      const other = spec.shortcut.length === 0
        ? `the identity shortcut gives the block's input [${skip.output}]; give the block a shortcut (e.g. a 1x1 conv2d) that maps it to [${inner.output}]`
        : `its shortcut gives [${skip.output}]`;
      throw ctx.fail(
        `a residual block adds its two branches, so their shapes must match: its layers give [${inner.output}] but ${other}`,
      );
    }
    const children = [...inner.layers, ...skip.layers];
    return {
      type: "residual",
      output: inner.output,
      layers: inner.layers,
      shortcut: skip.layers,
      activation: spec.activation,
      sites: children.flatMap((l) => l.sites),
      children,
    };
  },
  // The sum and the activation.
  forwardFloats: (plan, m) =>
    size(plan, m) * (plan.activation === "linear" ? 1 : 2),
  // The block's input gets a gradient from each branch, then their sum.
  backwardFloats: (plan, m, inputGradient) =>
    inputGradient ? m * plan.input.reduce((a, b) => a * b, 1) : 0,
  flops: (plan, m, inputGradient) => ({
    forward: 2 * size(plan, m),
    backward: 2 * size(plan, m) +
      (inputGradient ? m * plan.input.reduce((a, b) => a * b, 1) : 0),
  }),
};
