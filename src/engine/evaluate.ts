/** Loss and accuracy over a whole split, in chunks, with one host read. */
import * as tf from "@tensorflow/tfjs";
import type { SequentialModel } from "./model.ts";

const CHUNK = 1024;

/** Mean cross-entropy and accuracy of `model` on (x, one-hot y). */
export function evaluate(
  model: SequentialModel,
  x: tf.Tensor,
  y: tf.Tensor2D,
): { loss: number; accuracy: number } {
  const n = x.shape[0];
  const [lossSum, correct] = tf.tidy(() => {
    let loss: tf.Tensor = tf.scalar(0);
    let hits: tf.Tensor = tf.scalar(0);
    for (let start = 0; start < n; start += CHUNK) {
      const size = Math.min(CHUNK, n - start);
      const logits = model.forward(tf.slice(x, start, size));
      const yb = tf.slice(y, start, size);
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
