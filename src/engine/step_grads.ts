/**
 * One training forward and backward pass to the weight sites' probes: the
 * loss, each site's capture and output gradient, and the plain parameters'
 * gradients. The trainer runs it on a whole batch; data-parallel shards
 * (parallel/) run it on their rows of one.
 */
import * as tf from "@tensorflow/tfjs";
import type { ForwardPass, SiteCapture } from "./layers/mod.ts";
import type { SequentialModel } from "./model.ts";
import { meanLoss } from "./loss.ts";
import type { LossName } from "./spec_fields.ts";

/** What a step's optimizer works from; tensors belong to the caller's scope. */
export interface StepGrads {
  /** The mean loss over the rows passed in. */
  value: tf.Scalar;
  /** Per weight site: its inputs or patches (kept: the caller disposes `inputs`). */
  captures: SiteCapture[];
  /** Per weight site: d(loss)/d(pre-activation), rows = samples x positions. */
  outGrads: tf.Tensor2D[];
  /** Per plain parameter: its gradient. */
  plainGrads: tf.Tensor[];
}

/**
 * Forward and backward on `xb`, `yb`. `share` scales the output gradients:
 * a shard of `m_h` rows of an `m`-row batch passes `m_h / m`, so that its
 * gradients are its part of the whole batch's mean-loss gradient.
 */
export function stepGrads(
  model: SequentialModel,
  loss: LossName,
  xb: tf.Tensor,
  yb: tf.Tensor2D,
  seed: number,
  share = 1,
): StepGrads {
  const m = xb.shape[0];
  const captures: SiteCapture[] = [];
  const probes = model.probeShapes(m).map((s) => tf.zeros(s));
  const sites = probes.length;
  const pass: ForwardPass = { mode: "train", captures, seed };
  // Plain parameters (batch norm) get their gradient from autograd with the
  // probes'; without them this is the probes alone.
  let value: tf.Scalar, grads: tf.Tensor[];
  try {
    ({ value, grads } = tf.valueAndGrads((...ps: tf.Tensor[]) =>
      meanLoss(
        loss,
        model.forward(xb, { ...pass, probes: ps.slice(0, sites) }),
        yb,
        xb,
      )
    )([...probes, ...model.plain.map((p) => p.variable)]));
  } catch (err) {
    // Captured inputs are kept past the caller's scope; a failed pass
    // hands none back, so it frees them.
    for (const c of captures) c.inputs.dispose();
    throw err;
  }
  const outGrads = grads.slice(0, sites).map((g, i) => {
    const e = tf.reshape(g, [-1, model.trainable[i].units]) as tf.Tensor2D;
    return share === 1 ? e : tf.mul(e, share) as tf.Tensor2D;
  });
  return { value, captures, outGrads, plainGrads: grads.slice(sites) };
}
