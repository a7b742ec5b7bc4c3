/**
 * Zod field builders shared by the job spec and the layer kinds' specs, so a
 * bound and its message are written once. Pure: no TF.js.
 */
import { z } from "zod";

/** Activations a layer may use; `linear` is the identity. */
export const ACTIVATIONS = ["relu", "tanh", "linear"] as const;
/** One of {@link ACTIVATIONS}. */
export type Activation = (typeof ACTIVATIONS)[number];

/** An integer in `[1, max]` whose messages name the field and the value given. */
export const positiveInt = (name: string, max: number) =>
  z.int({ error: `${name} must be an integer` }).min(1, {
    error: (i) => `${name} must be between 1 and ${max}, got ${i.input}`,
  }).max(max, {
    error: (i) => `${name} must be between 1 and ${max}, got ${i.input}`,
  });

/** A layer's `activation`, `linear` unless given. */
export const activation = () => z.enum(ACTIVATIONS).default("linear");
