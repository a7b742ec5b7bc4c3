/**
 * A classifier built from the spec, with its own forward pass so that each
 * weight site's input and pre-activation gradient can be captured.
 * Everything about a layer kind is in its module under layers/; the model
 * only strings the built layers together (a residual block strings its own).
 */
import * as tf from "@tensorflow/tfjs";
import type { ModelSpec } from "./spec.ts";
import { Rng } from "./rng.ts";
import { inferModelShapes } from "./shapes.ts";
import {
  type BuildContext,
  type ForwardPass,
  kindOf,
  type Layer,
  type PlainParameter,
  type WeightSite,
} from "./layers/mod.ts";
import type { PlannedLayer } from "./layers/plans.ts";

/** The padding token id of token inputs (the tokenizer's). */
const PAD_TOKEN = 0;

/** The evaluation pass: running statistics, no dropout, no probes. */
const EVAL: ForwardPass = { mode: "eval" };

/** The model: built layers over variables. */
export class SequentialModel {
  readonly layers: Layer[] = [];
  /**
   * Every weight site in forward order, nested ones included, as the
   * optimizers see them: `trainable[i].index === i`.
   */
  readonly trainable: WeightSite[] = [];
  /**
   * Trainable parameters outside any site (batch-norm scale and shift), in
   * forward order: the base update rule takes them with their mean gradient.
   */
  readonly plain: PlainParameter[] = [];
  readonly inputShape: number[];
  readonly outputUnits: number;
  /** Whether a layer is a residual block (the export is then functional). */
  readonly branched: boolean;
  /** Whether the input is token ids (the first layer an embedding). */
  readonly tokens: boolean;

  /**
   * Builds the layers and initialises weights from `seed`.
   * @throws {EngineError} `invalid_spec` naming the offending layer field
   * (from {@link inferModelShapes}).
   */
  constructor(readonly spec: ModelSpec, seed: number) {
    // The same inference admits jobs at submission, so the two never disagree.
    const shapes = inferModelShapes(spec);
    this.inputShape = shapes.inputShape;
    this.outputUnits = shapes.outputUnits;
    const ctx: BuildContext = {
      rng: new Rng(seed),
      init: spec.init,
      build(plan) {
        // Nested plans come typed as the base; every plan is one of the union.
        const planned = plan as PlannedLayer;
        return kindOf(planned.type).build(planned, ctx);
      },
    };
    for (const plan of shapes.layers) {
      const layer = ctx.build(plan);
      this.layers.push(layer);
      this.trainable.push(...layer.sites);
      this.plain.push(...layer.plain);
    }
    this.branched = shapes.layers.some((l) => l.type === "residual");
    this.tokens = shapes.layers[0].type === "embedding";
  }

  /**
   * Logits for a batch: (M, units), or (M, T, vocab) for token ids (M, T)
   * int32. `pass.mode` says train or eval (batch norm's statistics,
   * dropout); with `pass.probes`, adds probe i to weight site i's
   * pre-activation (so d loss / d probe is that site's output gradient) and
   * stores each site's input (or patches) in `pass.captures[i]`, kept for
   * the caller. Without a pass: evaluation. Token ids 0 are padding, which
   * attention masks out (`pass.padding`).
   */
  forward(x: tf.Tensor, pass: ForwardPass = EVAL): tf.Tensor2D {
    if (x.dtype === "int32") {
      pass = {
        ...pass,
        padding: tf.cast(tf.equal(x, PAD_TOKEN), "float32") as tf.Tensor2D,
      };
    }
    let h = x;
    for (const layer of this.layers) h = layer.forward(h, pass);
    return h as tf.Tensor2D;
  }

  /** Shapes of the probe tensors for a batch of `m` samples, one per weight site. */
  probeShapes(m: number): number[][] {
    return this.trainable.map((s) => [m, ...s.output]);
  }

  /** Every variable by its self-describing name, running statistics included. */
  variables(): Map<string, tf.Variable> {
    return new Map(this.layers.flatMap((l) => l.variables()));
  }

  /** Frees the weights. */
  dispose(): void {
    for (const v of this.variables().values()) v.dispose();
  }
}
