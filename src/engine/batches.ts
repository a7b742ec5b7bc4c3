/**
 * Data on the backend and fixed batch membership. The training set is
 * permuted once (seeded) and uploaded in that order, so batch b is always the
 * contiguous rows [b*B, (b+1)*B): a cheap slice, and the same samples every
 * epoch, which is what lets FNGD reuse batch b's coefficients.
 */
import * as tf from "@tensorflow/tfjs";
import type { JobSpec } from "./spec.ts";
import { type Dataset, EngineError } from "./types.ts";
import { deriveSeed, Rng } from "./rng.ts";

/** One split on the backend: inputs shaped like the model's, labels one-hot. */
export interface BackendSplit {
  x: tf.Tensor;
  y: tf.Tensor2D;
}

/** Train, validation and test splits uploaded to the backend. */
export interface SplitData {
  train: BackendSplit;
  trainCount: number;
  val?: BackendSplit;
  test?: BackendSplit;
  dispose(): void;
}

/** Batch boundaries over the permuted training rows. */
export interface BatchPlan {
  count: number;
  start(batch: number): number;
  size(batch: number): number;
}

/** Cuts `n` rows into batches of `batchSize`; the last one may be smaller. */
export function planBatches(n: number, batchSize: number): BatchPlan {
  return {
    count: Math.ceil(n / batchSize),
    start: (b) => b * batchSize,
    size: (b) => Math.min(batchSize, n - b * batchSize),
  };
}

function gatherRows(
  x: Float32Array,
  y: Int32Array,
  rows: ArrayLike<number>,
  width: number,
) {
  const xs = new Float32Array(rows.length * width);
  const ys = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    xs.set(x.subarray(r * width, (r + 1) * width), i * width);
    ys[i] = y[r];
  }
  return { xs, ys };
}

function upload(
  xs: Float32Array,
  ys: Int32Array,
  inputShape: number[],
  classes: number,
): BackendSplit {
  return tf.tidy(() => ({
    x: tf.tensor(xs, [ys.length, ...inputShape]),
    y: tf.oneHot(tf.tensor1d(ys, "int32"), classes).toFloat() as tf.Tensor2D,
  }));
}

/**
 * Validates `data` against the model, shuffles with the job seed, holds out
 * the last `validation_split` fraction, and uploads everything.
 * @throws {EngineError} `invalid_spec` when the data does not fit the model.
 */
export function uploadSplit(
  data: Dataset,
  spec: JobSpec,
  inputShape: number[],
  outputUnits: number,
): SplitData {
  const width = inputShape.reduce((a, b) => a * b, 1);
  const sampleWidth = data.sampleShape.reduce((a, b) => a * b, 1);
  if (sampleWidth !== width) {
    throw new EngineError(
      "invalid_spec",
      `model.input_shape [${inputShape}] has ${width} values but dataset samples have shape [${data.sampleShape}] (${sampleWidth} values)`,
    );
  }
  if (data.classes > outputUnits) {
    throw new EngineError(
      "invalid_spec",
      `the last layer has ${outputUnits} units but the dataset has ${data.classes} classes`,
    );
  }
  const n = data.y.length;
  const valCount = Math.floor(n * spec.validation_split);
  const trainCount = n - valCount;
  if (trainCount < 1) {
    throw new EngineError(
      "invalid_spec",
      `validation_split ${spec.validation_split} leaves no training samples`,
    );
  }
  const perm = new Rng(deriveSeed(spec.seed, 2)).permutation(n);
  const train = gatherRows(data.x, data.y, perm.subarray(0, trainCount), width);
  const out: SplitData = {
    train: upload(train.xs, train.ys, inputShape, outputUnits),
    trainCount,
    dispose() {
      for (const s of [out.train, out.val, out.test]) {
        s?.x.dispose();
        s?.y.dispose();
      }
    },
  };
  if (valCount > 0) {
    const val = gatherRows(data.x, data.y, perm.subarray(trainCount), width);
    out.val = upload(val.xs, val.ys, inputShape, outputUnits);
  }
  if (data.test && data.test.y.length > 0) {
    out.test = upload(data.test.x, data.test.y, inputShape, outputUnits);
  }
  return out;
}
