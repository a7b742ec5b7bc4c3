/**
 * The training losses, over the last layer's logits. A sample's loss sums over
 * its output units, and a batch's loss is the mean over samples, so the
 * batch-mean loss is exactly `(1/M) sum_i loss_i` for every loss: the probe
 * gradient is `e_i / M` and FNGD's per-sample gradient is `M` times it
 * (FNGD.md), whatever the loss. Summing over units (not averaging) makes a
 * sample's loss its negative log-likelihood (Bernoulli pixels for sigmoid
 * cross-entropy, a unit Gaussian up to a factor 2 for mse), as in the K-FAC
 * autoencoder experiments.
 */
import * as tf from "@tensorflow/tfjs";
import type { LossName } from "./spec_fields.ts";

/** Per-sample losses `(M,)` of `logits` against `targets`, each summed over output units. */
export function perSampleLoss(
  name: LossName,
  logits: tf.Tensor2D,
  targets: tf.Tensor2D,
): tf.Tensor1D {
  switch (name) {
    case "softmax_cross_entropy":
      return tf.neg(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), 1));
    case "sigmoid_cross_entropy":
      // softplus(z) - t z = -t log sigmoid(z) - (1 - t) log(1 - sigmoid(z)),
      // stable for large |z| (TF.js softplus switches to z or exp(z) there),
      // with gradient sigmoid(z) - t exactly, also at z = 0.
      return tf.sum(tf.sub(tf.softplus(logits), tf.mul(targets, logits)), 1);
    case "mse":
      return tf.sum(tf.squaredDifference(logits, targets), 1);
  }
}

/** The batch loss: the mean over samples of {@link perSampleLoss}. */
export function meanLoss(
  name: LossName,
  logits: tf.Tensor2D,
  targets: tf.Tensor2D,
): tf.Scalar {
  return tf.mean(perSampleLoss(name, logits, targets));
}

/** Mean softmax cross-entropy of logits against one-hot labels. */
export function meanCrossEntropy(
  logits: tf.Tensor2D,
  oneHot: tf.Tensor2D,
): tf.Scalar {
  return meanLoss("softmax_cross_entropy", logits, oneHot);
}

/**
 * What the model predicts from its logits under `name`: the sigmoid
 * probabilities for sigmoid cross-entropy (the reconstruction), the logits
 * themselves otherwise (softmax is monotone, so the logits' argmax is the class).
 */
export function predictions(name: LossName, logits: tf.Tensor2D): tf.Tensor2D {
  return name === "sigmoid_cross_entropy" ? tf.sigmoid(logits) : logits;
}
