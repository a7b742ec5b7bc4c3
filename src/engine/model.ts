/**
 * A sequential classifier built from the spec, with its own forward pass so
 * that each weight site's input and pre-activation gradient can be captured.
 * Everything about a layer kind is in its module under layers/; the model
 * only strings the built layers together.
 */
import type * as tf from "@tensorflow/tfjs";
import type { ModelSpec } from "./spec.ts";
import { Rng } from "./rng.ts";
import { inferModelShapes } from "./shapes.ts";
import {
  kindOf,
  type Layer,
  type SiteCapture,
  type WeightSite,
} from "./layers/mod.ts";

/** The model: built layers over variables. */
export class SequentialModel {
  readonly layers: Layer[] = [];
  /**
   * Every weight site in forward order, as the optimizers see them:
   * `trainable[i].index === i`.
   */
  readonly trainable: WeightSite[] = [];
  readonly inputShape: number[];
  readonly outputUnits: number;

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
    const ctx = { rng: new Rng(seed), init: spec.init };
    for (const plan of shapes.layers) {
      const layer = kindOf(plan.type).build(plan, ctx);
      this.layers.push(layer);
      this.trainable.push(...layer.sites);
    }
  }

  /**
   * Logits for a batch. With `probes`, adds probe i to weight site i's
   * pre-activation (so d loss / d probe is that site's output gradient) and
   * stores each site's input (or patches) in `captures[i]`, kept for the caller.
   */
  forward(
    x: tf.Tensor,
    probes?: tf.Tensor[],
    captures?: SiteCapture[],
  ): tf.Tensor2D {
    const pass = { probes, captures };
    let h = x;
    for (const layer of this.layers) h = layer.forward(h, pass);
    return h as tf.Tensor2D;
  }

  /** Shapes of the probe tensors for a batch of `m` samples, one per weight site. */
  probeShapes(m: number): number[][] {
    return this.trainable.map((s) => [m, ...s.output]);
  }

  /** Every variable by its self-describing name. */
  variables(): Map<string, tf.Variable> {
    return new Map(this.layers.flatMap((l) => l.variables()));
  }

  /** Frees the weights. */
  dispose(): void {
    for (const v of this.variables().values()) v.dispose();
  }
}
