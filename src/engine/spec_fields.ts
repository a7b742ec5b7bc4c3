/**
 * Zod field builders shared by the job spec and the layer kinds' specs, so a
 * bound and its message are written once. Pure: no TF.js.
 */
import { z } from "zod";

/**
 * Activations a layer may use; `linear` is the identity. Each is the TF.js
 * layers activation of the same name, so an export reloads exactly: `gelu`
 * is the exact `x * Phi(x)` with `erf`, as tfjs-layers' `gelu` (not the tanh
 * approximation, which tfjs-layers calls `gelu_new`).
 */
export const ACTIVATIONS = [
  "relu",
  "tanh",
  "sigmoid",
  "gelu",
  "linear",
] as const;
/** One of {@link ACTIVATIONS}. */
export type Activation = (typeof ACTIVATIONS)[number];

/**
 * Losses over the last layer's outputs (always pre-activation logits):
 * `softmax_cross_entropy` for class labels, `sigmoid_cross_entropy` and `mse`
 * for target vectors, `sequence_cross_entropy` for next-token prediction on
 * the target tokens of token sequences. A sample's loss sums over output
 * units (over target tokens, for sequences).
 */
export const LOSSES = [
  "softmax_cross_entropy",
  "sigmoid_cross_entropy",
  "mse",
  "sequence_cross_entropy",
] as const;
/** One of {@link LOSSES}. */
export type LossName = (typeof LOSSES)[number];

/** What a sample's target is: its class label (one-hot) or its own input (an autoencoder). */
export const TARGETS = ["labels", "input"] as const;
/** One of {@link TARGETS}. */
export type TargetKind = (typeof TARGETS)[number];

/** An integer in `[1, max]` whose messages name the field and the value given. */
export const positiveInt = (name: string, max: number) =>
  z.int({ error: `${name} must be an integer` }).min(1, {
    error: (i) => `${name} must be between 1 and ${max}, got ${i.input}`,
  }).max(max, {
    error: (i) => `${name} must be between 1 and ${max}, got ${i.input}`,
  });

/** A layer's `activation`, `linear` unless given. */
export const activation = () => z.enum(ACTIVATIONS).default("linear");
