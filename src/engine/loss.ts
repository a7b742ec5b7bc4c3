/**
 * The training losses, over the last layer's logits. A sample's loss sums over
 * its output units, and a batch's loss is the mean over samples, so the
 * batch-mean loss is exactly `(1/M) sum_i loss_i` for every loss: the probe
 * gradient is `e_i / M` and FNGD's per-sample gradient is `M` times it
 * (the SMW rewrite needs each sample's own gradient), whatever the loss. Summing over units (not averaging) makes a
 * sample's loss its negative log-likelihood (Bernoulli pixels for sigmoid
 * cross-entropy, a unit Gaussian up to a factor 2 for mse), as in the K-FAC
 * autoencoder experiments. A sequence's loss likewise sums over its target
 * tokens (not their mean), so a sample is a whole sequence.
 */
import * as tf from "@tensorflow/tfjs";
import type { LossName } from "./spec_fields.ts";

/**
 * Per-sample losses `(M,)` of `logits` against `targets`, each summed over
 * output units. For `sequence_cross_entropy`, `logits` is (M, T, V),
 * `targets` the (M, T) target mask and `tokens` the (M, T) ids (see
 * {@link sequenceTokenLoss}).
 */
export function perSampleLoss(
  name: LossName,
  logits: tf.Tensor,
  targets: tf.Tensor2D,
  tokens?: tf.Tensor,
): tf.Tensor1D {
  const z = logits as tf.Tensor2D;
  switch (name) {
    case "softmax_cross_entropy":
      return tf.neg(tf.sum(tf.mul(targets, tf.logSoftmax(z)), 1));
    case "sigmoid_cross_entropy":
      // softplus(z) - t z = -t log sigmoid(z) - (1 - t) log(1 - sigmoid(z)),
      // stable for large |z| (TF.js softplus switches to z or exp(z) there),
      // with gradient sigmoid(z) - t exactly, also at z = 0.
      return tf.sum(tf.sub(tf.softplus(z), tf.mul(targets, z)), 1);
    case "mse":
      return tf.sum(tf.squaredDifference(z, targets), 1);
    case "sequence_cross_entropy":
      if (!tokens) {
        throw new Error("sequence_cross_entropy needs the token ids");
      }
      return tf.sum(sequenceTokenLoss(logits, targets, tokens), 1);
  }
}

/**
 * Next-token cross-entropy per position, masked: entry (i, t - 1) is
 * `-mask[i, t] log p(x[i, t] | x[i, <t])` from the logits at position t - 1,
 * so only target tokens count (source, separator and padding give 0, and
 * their gradient is 0). Shape (M, T - 1).
 */
export function sequenceTokenLoss(
  logits: tf.Tensor,
  mask: tf.Tensor2D,
  tokens: tf.Tensor,
): tf.Tensor2D {
  const [m, t, vocab] = logits.shape;
  const { predicted, next, weight } = shifted(logits, mask, tokens);
  const logp = tf.logSoftmax(tf.reshape(predicted, [-1, vocab]));
  const picked = tf.sum(
    tf.mul(logp, tf.oneHot(tf.reshape(next, [-1]) as tf.Tensor1D, vocab)),
    1,
  );
  return tf.neg(tf.mul(tf.reshape(picked, [m, t - 1]), weight)) as tf.Tensor2D;
}

/** Logits at positions 0..T-2, the tokens they predict (1..T-1) and those tokens' mask. */
function shifted(logits: tf.Tensor, mask: tf.Tensor2D, tokens: tf.Tensor) {
  const [m, t] = logits.shape;
  return {
    predicted: tf.slice(logits, [0, 0, 0], [m, t - 1, -1]),
    next: tf.cast(tf.slice(tokens, [0, 1], [m, t - 1]), "int32"),
    weight: tf.slice(mask, [0, 1], [m, t - 1]),
  };
}

/**
 * Per sequence: masked target tokens predicted right (argmax) and target
 * tokens, as (M, 2) float sums; a sequence is an exact match when the two
 * are equal.
 */
export function sequenceHits(
  logits: tf.Tensor,
  mask: tf.Tensor2D,
  tokens: tf.Tensor,
): tf.Tensor2D {
  const { predicted, next, weight } = shifted(logits, mask, tokens);
  const right = tf.cast(tf.equal(tf.argMax(predicted, 2), next), "float32");
  return tf.stack([
    tf.sum(tf.mul(right, weight), 1),
    tf.sum(weight, 1),
  ], 1) as tf.Tensor2D;
}

/** The batch loss: the mean over samples of {@link perSampleLoss}. */
export function meanLoss(
  name: LossName,
  logits: tf.Tensor,
  targets: tf.Tensor2D,
  tokens?: tf.Tensor,
): tf.Scalar {
  return tf.mean(perSampleLoss(name, logits, targets, tokens));
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
