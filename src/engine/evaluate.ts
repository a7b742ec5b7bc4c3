/** Loss and accuracy over a whole split, in chunks, with one host read. */
import * as tf from "@tensorflow/tfjs";
import type { SequentialModel } from "./model.ts";
import type { HostSplit } from "./batches.ts";

const CHUNK = 1024;

/** Mean cross-entropy and accuracy of `model` on a split. */
export function evaluate(
  model: SequentialModel,
  split: HostSplit,
): { loss: number; accuracy: number } {
  const n = split.count;
  const [lossSum, correct] = tf.tidy(() => {
    let loss: tf.Tensor = tf.scalar(0);
    let hits: tf.Tensor = tf.scalar(0);
    for (let start = 0; start < n; start += CHUNK) {
      const size = Math.min(CHUNK, n - start);
      const { x, y: yb } = split.rows(start, size);
      const logits = model.forward(x);
      loss = tf.add(loss, tf.neg(tf.sum(tf.mul(yb, tf.logSoftmax(logits)))));
      hits = tf.add(
        hits,
        tf.sum(
          tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(yb, 1)), "float32"),
        ),
      );
    }
    return tf.stack([loss, hits]).dataSync();
  });
  return { loss: lossSum / n, accuracy: correct / n };
}
