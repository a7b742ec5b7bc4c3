/**
 * `dropout`: inverted dropout in training, the identity in evaluation, as
 * Keras's Dropout. Masks come from the step's seed (ForwardPass.seed, from
 * the run seed, epoch and batch) and the layer's own stream, never from a
 * global RNG, so a resumed run draws exactly the masks of an uninterrupted
 * one. They are drawn on the host with the engine's seeded PRNG, which
 * every backend shares.
 */
import * as tf from "@tensorflow/tfjs";
import { deriveSeed, Rng } from "../rng.ts";
import {
  type DropoutLayerSpec,
  type DropoutPlan,
  dropoutPlanner,
} from "./dropout_plan.ts";
import type { LayerKind } from "./kind.ts";

/** The `dropout` kind. */
export const dropout: LayerKind<typeof DropoutLayerSpec, DropoutPlan> = {
  ...dropoutPlanner,
  build: (plan) => ({
    sites: [],
    plain: [],
    variables: () => [],
    forward(x, pass) {
      if (pass.mode !== "train" || plan.rate === 0) return x;
      if (pass.seed === undefined) {
        throw new Error("a training forward pass through dropout needs a seed");
      }
      const rng = new Rng(deriveSeed(pass.seed, plan.stream));
      const keep = 1 / (1 - plan.rate);
      const mask = new Float32Array(x.size);
      for (let i = 0; i < mask.length; i++) {
        mask[i] = rng.next() < plan.rate ? 0 : keep;
      }
      return tf.mul(x, tf.tensor(mask, x.shape));
    },
    exportTo: (sink, x) =>
      sink.apply(
        tf.layers.dropout({ ...sink.inputConfig(), rate: plan.rate }),
        x,
      ),
  }),
};
