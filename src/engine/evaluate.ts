/** Loss and the task's metric over a whole split, in chunks, with one host read. */
import * as tf from "@tensorflow/tfjs";
import type { SequentialModel } from "./model.ts";
import type { HostSplit } from "./batches.ts";
import { evalChunkRows } from "./cost.ts";
import { perSampleLoss, predictions, sequenceHits } from "./loss.ts";
import type { LossName } from "./spec.ts";

/**
 * A split's mean loss and its metric: accuracy when the targets are class
 * labels, reconstruction error otherwise (the other is null); for token
 * sequences, token accuracy and exact match.
 */
export interface Evaluation {
  loss: number;
  /** Sequences: the fraction of target tokens predicted right (argmax). */
  accuracy: number | null;
  /**
   * Mean over samples of the squared error summed over output units, between
   * the predictions (sigmoid outputs for sigmoid cross-entropy) and the
   * targets; for `mse` it equals the loss.
   */
  reconstructionError: number | null;
  /** Sequences only: the fraction of sequences with every target token right. */
  exactMatch: number | null;
}

/** Mean loss and the metric of `model` on a split under `loss`. */
export function evaluate(
  model: SequentialModel,
  split: HostSplit,
  loss: LossName,
): Evaluation {
  const totals = evaluationTotals(model, split, loss);
  const values = totals.dataSync();
  totals.dispose();
  return evaluationOf(split, values);
}

/**
 * {@link evaluate} with an asynchronous read: the only one webgpu has (its
 * synchronous read needs a 2D canvas).
 */
export async function evaluateAsync(
  model: SequentialModel,
  split: HostSplit,
  loss: LossName,
): Promise<Evaluation> {
  const totals = evaluationTotals(model, split, loss);
  try {
    return evaluationOf(split, await totals.data());
  } finally {
    totals.dispose();
  }
}

/** `[loss, metric, target tokens, exact matches]` summed over the split. */
function evaluationTotals(
  model: SequentialModel,
  split: HostSplit,
  loss: LossName,
): tf.Tensor1D {
  const n = split.count;
  // Each chunk gets its own tidy: one tidy around the loop would keep every
  // chunk's activations alive until the end, i.e. a forward pass over the
  // whole split at once (what the cost estimate would then have to count).
  // Totals: loss, metric, and for sequences target tokens and exact matches.
  let totals: tf.Tensor1D = tf.zeros([4]);
  const chunk = evalChunkRows(split.sequences ? split.targetWidth : 1);
  for (let start = 0; start < n; start += chunk) {
    const size = Math.min(chunk, n - start);
    const next = tf.tidy(() => {
      const { x, y: yb } = split.rows(start, size);
      const logits = model.forward(x);
      const lossSum = tf.sum(perSampleLoss(loss, logits, yb, x));
      let sums: tf.Tensor[];
      if (split.sequences) {
        const hits = sequenceHits(logits, yb, x);
        const [right, targets] = tf.unstack(hits, 1);
        const exact = tf.sum(tf.cast(tf.equal(right, targets), "float32"));
        sums = [lossSum, tf.sum(right), tf.sum(targets), exact];
      } else {
        const metric = split.labelled
          ? tf.sum(
            tf.cast(
              tf.equal(tf.argMax(logits, 1), tf.argMax(yb, 1)),
              "float32",
            ),
          )
          : tf.sum(tf.squaredDifference(predictions(loss, logits), yb));
        sums = [lossSum, metric, tf.scalar(0), tf.scalar(0)];
      }
      return tf.add(totals, tf.stack(sums)) as tf.Tensor1D;
    });
    totals.dispose();
    totals = next;
  }
  return totals;
}

function evaluationOf(
  split: HostSplit,
  totals: ArrayLike<number>,
): Evaluation {
  const [lossSum, metricSum, targetSum, exactSum] = Array.from(totals);
  const n = split.count;
  if (split.sequences) {
    return {
      loss: lossSum / n,
      accuracy: targetSum > 0 ? metricSum / targetSum : null,
      reconstructionError: null,
      exactMatch: exactSum / n,
    };
  }
  return {
    loss: lossSum / n,
    accuracy: split.labelled ? metricSum / n : null,
    reconstructionError: split.labelled ? null : metricSum / n,
    exactMatch: null,
  };
}
