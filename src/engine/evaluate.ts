/** Loss and accuracy over a whole split, in chunks, with one host read. */
import * as tf from "@tensorflow/tfjs";
import type { SequentialModel } from "./model.ts";
import type { HostSplit } from "./batches.ts";
import { EVAL_CHUNK_ROWS } from "./cost.ts";

/** Mean cross-entropy and accuracy of `model` on a split. */
export function evaluate(
  model: SequentialModel,
  split: HostSplit,
): { loss: number; accuracy: number } {
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
      const loss = tf.neg(tf.sum(tf.mul(yb, tf.logSoftmax(logits))));
      const hits = tf.sum(
        tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(yb, 1)), "float32"),
      );
      return tf.add(totals, tf.stack([loss, hits])) as tf.Tensor1D;
    });
    totals.dispose();
    totals = next;
  }
  const [lossSum, correct] = totals.dataSync();
  totals.dispose();
  return { loss: lossSum / n, accuracy: correct / n };
}
