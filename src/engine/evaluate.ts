/** Loss and the task's metric over a whole split, in chunks, with one host read. */
import * as tf from "@tensorflow/tfjs";
import type { SequentialModel } from "./model.ts";
import type { HostSplit } from "./batches.ts";
import { EVAL_CHUNK_ROWS } from "./cost.ts";
import { perSampleLoss, predictions } from "./loss.ts";
import type { LossName } from "./spec.ts";

/**
 * A split's mean loss and its metric: accuracy when the targets are class
 * labels, reconstruction error otherwise (the other is null).
 */
export interface Evaluation {
  loss: number;
  accuracy: number | null;
  /**
   * Mean over samples of the squared error summed over output units, between
   * the predictions (sigmoid outputs for sigmoid cross-entropy) and the
   * targets; for `mse` it equals the loss.
   */
  reconstructionError: number | null;
}

/** Mean loss and the metric of `model` on a split under `loss`. */
export function evaluate(
  model: SequentialModel,
  split: HostSplit,
  loss: LossName,
): Evaluation {
  const n = split.count;
  // Each chunk gets its own tidy: one tidy around the loop would keep every
  // chunk's activations alive until the end, i.e. a forward pass over the
  // whole split at once (what the cost estimate would then have to count).
  let totals: tf.Tensor1D = tf.zeros([2]);
  for (let start = 0; start < n; start += EVAL_CHUNK_ROWS) {
    const size = Math.min(EVAL_CHUNK_ROWS, n - start);
    const next = tf.tidy(() => {
      const { x, y: yb } = split.rows(start, size);
      const logits = model.forward(x);
      const lossSum = tf.sum(perSampleLoss(loss, logits, yb));
      const metric = split.labelled
        ? tf.sum(
          tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(yb, 1)), "float32"),
        )
        : tf.sum(tf.squaredDifference(predictions(loss, logits), yb));
      return tf.add(totals, tf.stack([lossSum, metric])) as tf.Tensor1D;
    });
    totals.dispose();
    totals = next;
  }
  const [lossSum, metricSum] = totals.dataSync();
  totals.dispose();
  return {
    loss: lossSum / n,
    accuracy: split.labelled ? metricSum / n : null,
    reconstructionError: split.labelled ? null : metricSum / n,
  };
}
