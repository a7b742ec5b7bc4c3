/**
 * `residual`: `activation(inner(x) + shortcut(x))`. The block owns its
 * nested layers; their sites join the model's in forward order, so every
 * conv and dense inside a block (shortcut included) is preconditioned.
 * Exports as Keras's `Add`, which needs a functional model (export.ts).
 */
import * as tf from "@tensorflow/tfjs";
import type { ForwardPass, Layer, LayerKind } from "./kind.ts";
import { activate } from "./linear_site.ts";
// Through the registry, not residual_plan.ts: see the note there.
import { LAYER_PLANNERS } from "./plans.ts";
import type { ResidualLayerSpec, ResidualPlan } from "./residual_plan.ts";

function chain(layers: Layer[], x: tf.Tensor, pass: ForwardPass): tf.Tensor {
  return layers.reduce((h, l) => l.forward(h, pass), x);
}

/** The `residual` kind. */
export const residual: LayerKind<typeof ResidualLayerSpec, ResidualPlan> = {
  ...LAYER_PLANNERS.residual,
  build(plan, ctx) {
    // Built in planning order, so weights draw from the init stream in forward order.
    const inner = plan.layers.map((p) => ctx.build(p));
    const shortcut = plan.shortcut.map((p) => ctx.build(p));
    const all = [...inner, ...shortcut];
    return {
      sites: all.flatMap((l) => l.sites),
      plain: all.flatMap((l) => l.plain),
      variables: () => all.flatMap((l) => l.variables()),
      forward: (x, pass) =>
        activate(
          tf.add(chain(inner, x, pass), chain(shortcut, x, pass)),
          plan.activation,
        ),
      exportTo(sink, x) {
        const a = inner.reduce((h, l) => l.exportTo(sink, h), x);
        const b = shortcut.reduce((h, l) => l.exportTo(sink, h), x);
        const sum = sink.apply(tf.layers.add({}), [a, b]);
        if (plan.activation === "linear") return sum;
        return sink.apply(
          tf.layers.activation({ activation: plan.activation }),
          sum,
        );
      },
    };
  },
};
