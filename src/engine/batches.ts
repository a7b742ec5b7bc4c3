/**
 * Splits and fixed batch membership. The training set is permuted once
 * (seeded) and stored in that order, so batch b is always the contiguous rows
 * [b*B, (b+1)*B): the same samples every epoch, which is what lets FNGD reuse
 * batch b's coefficients.
 *
 * Rows stay on the host and each batch is uploaded when needed: measured on
 * wasm, `tf.slice` of a 54000 x 784 tensor takes 72 ms (its Slice kernel
 * copies the whole input), while uploading a 128-row batch takes 0.02 ms.
 */
import * as tf from "@tensorflow/tfjs";
import type { JobSpec, TargetKind } from "./spec.ts";
import { type Dataset, EngineError, type SequenceData } from "./types.ts";
import { deriveSeed, Rng, SEED_STREAM } from "./rng.ts";
import { checkDataFitsModel, inferModelShapes, specError } from "./shapes.ts";

/**
 * One split on the host: inputs in model order and targets, `targetWidth`
 * per sample: one-hot labels, or (`targets` undefined) the inputs themselves,
 * flattened, for an autoencoder; for token sequences (`sequences`), `x`
 * holds the int32 ids and `targets` the (N, T) target mask as floats.
 */
export class HostSplit {
  constructor(
    readonly x: Float32Array | Int32Array,
    readonly targets: Float32Array | undefined,
    readonly count: number,
    readonly inputShape: number[],
    readonly targetWidth: number,
    readonly sequences = false,
  ) {}

  /** Whether the targets are one-hot class labels (accuracy applies). */
  get labelled(): boolean {
    return this.targets !== undefined && !this.sequences;
  }

  /**
   * Rows [start, start + size) as backend tensors (int32 ids for sequences,
   * with `y` their target mask); the caller disposes them (or runs in a tidy).
   */
  rows(start: number, size: number): { x: tf.Tensor; y: tf.Tensor2D } {
    const width = this.x.length / this.count;
    const x = tf.tensor(
      this.x.subarray(start * width, (start + size) * width),
      [size, ...this.inputShape],
    );
    const w = this.targetWidth;
    const y = this.targets
      ? tf.tensor2d(this.targets.subarray(start * w, (start + size) * w), [
        size,
        w,
      ])
      : tf.reshape(x, [size, w]) as tf.Tensor2D;
    return { x, y };
  }
}

/** Train, validation and test splits. */
export interface SplitData {
  train: HostSplit;
  val?: HostSplit;
  test?: HostSplit;
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

/** Token rows and their target masks (as floats, the loss's weights) in `rows` order. */
function sequenceSplit(
  x: Int32Array,
  mask: Uint8Array,
  rows: ArrayLike<number>,
  length: number,
): HostSplit {
  const xs = new Int32Array(rows.length * length);
  const ms = new Float32Array(rows.length * length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    xs.set(x.subarray(r * length, (r + 1) * length), i * length);
    for (let t = 0; t < length; t++) {
      ms[i * length + t] = mask[r * length + t];
    }
  }
  return new HostSplit(xs, ms, rows.length, [length], length, true);
}

/**
 * Splits token sequences as {@link splitData} splits samples: the same
 * seeded permutation of rows, `sequences.tokens` as the int32 inputs and
 * `sequences.targetMask` as the targets.
 * @throws {EngineError} `invalid_spec` when the loss is not
 * `sequence_cross_entropy` or the data does not fit the model.
 */
function splitSequences(
  data: Dataset,
  sequences: SequenceData,
  spec: JobSpec,
  inputShape: number[],
  outputUnits: number,
): SplitData {
  if (spec.loss !== "sequence_cross_entropy") {
    throw specError(
      ["loss"],
      `token sequences need loss "sequence_cross_entropy", got ${spec.loss}`,
    );
  }
  // The embeddings' tables come from the spec: the caller passes only the
  // input and output shapes, and planning allocates nothing.
  const { tokenTables } = inferModelShapes(spec.model);
  checkDataFitsModel(
    { inputShape, outputUnits, tokenTables },
    {
      sampleShape: data.sampleShape,
      classes: data.classes,
      vocabulary: sequences.vocabulary.tokens.length,
    },
    spec.model.layers.length - 1,
  );
  const length = sequences.length;
  const n = sequences.tokens.length / length;
  const { perm, trainCount } = splitOrder(n, spec);
  const at = (rows: ArrayLike<number>) =>
    sequenceSplit(sequences.tokens, sequences.targetMask, rows, length);
  const out: SplitData = { train: at(perm.subarray(0, trainCount)) };
  if (trainCount < perm.length) out.val = at(perm.subarray(trainCount));
  const test = sequences.test;
  if (test && test.tokens.length > 0) {
    const count = test.tokens.length / length;
    out.test = sequenceSplit(
      test.tokens,
      test.targetMask,
      Array.from({ length: count }, (_, i) => i),
      length,
    );
  }
  return out;
}

function hostSplit(
  xs: Float32Array,
  ys: Int32Array,
  inputShape: number[],
  classes: number,
  target: TargetKind,
): HostSplit {
  if (target === "input") {
    const width = xs.length / ys.length;
    return new HostSplit(xs, undefined, ys.length, inputShape, width);
  }
  const oneHot = new Float32Array(ys.length * classes);
  for (let i = 0; i < ys.length; i++) oneHot[i * classes + ys[i]] = 1;
  return new HostSplit(xs, oneHot, ys.length, inputShape, classes);
}

/** Smallest and largest value of `x` (NaN when `x` holds a NaN). */
function valueRange(x: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    if (v !== v) return [NaN, NaN];
  }
  return [lo, hi];
}

/**
 * Sigmoid cross-entropy needs targets in [0, 1]. One-hot labels always are;
 * an autoencoder's targets are its inputs, checked here on the loaded data.
 * @throws {EngineError} `invalid_spec` at `loss`, with the range found.
 */
export function checkTargetRange(data: Dataset, spec: JobSpec): void {
  if (spec.loss !== "sigmoid_cross_entropy" || spec.target !== "input") return;
  for (const [what, x] of [["", data.x], ["test ", data.test?.x]] as const) {
    if (!x || x.length === 0) continue;
    const [lo, hi] = valueRange(x);
    if (!(lo >= 0 && hi <= 1)) {
      throw specError(
        ["loss"],
        `sigmoid_cross_entropy with target "input" needs inputs in [0, 1], but the dataset's ${what}inputs range over [${lo}, ${hi}]; rescale them or use mse`,
      );
    }
  }
}

/**
 * Validates `data` against the model, shuffles with the job seed, holds out
 * the last `validation_split` fraction.
 * @throws {EngineError} `invalid_spec` when the data does not fit the model.
 */
export function splitData(
  data: Dataset,
  spec: JobSpec,
  inputShape: number[],
  outputUnits: number,
): SplitData {
  if (data.sequences) {
    return splitSequences(data, data.sequences, spec, inputShape, outputUnits);
  }
  if (spec.loss === "sequence_cross_entropy") {
    throw specError(
      ["loss"],
      "sequence_cross_entropy needs a token-sequence dataset, got samples with labels",
    );
  }
  checkDataFitsModel(
    { inputShape, outputUnits },
    spec.target === "input" ? { sampleShape: data.sampleShape } : data,
  );
  checkTargetRange(data, spec);
  // Labels narrower than the logits are padded with zeros to outputUnits.
  const classes = spec.target === "input" ? 0 : outputUnits;
  const width = inputShape.reduce((a, b) => a * b, 1);
  const n = data.y.length;
  const { perm, trainCount } = splitOrder(n, spec);
  const train = gatherRows(data.x, data.y, perm.subarray(0, trainCount), width);
  const out: SplitData = {
    train: hostSplit(train.xs, train.ys, inputShape, classes, spec.target),
  };
  if (trainCount < perm.length) {
    const val = gatherRows(data.x, data.y, perm.subarray(trainCount), width);
    out.val = hostSplit(val.xs, val.ys, inputShape, classes, spec.target);
  }
  if (data.test && data.test.y.length > 0) {
    out.test = hostSplit(
      data.test.x,
      data.test.y,
      inputShape,
      classes,
      spec.target,
    );
  }
  return out;
}

/**
 * The seeded shuffle of `n` samples and how many of its first entries train;
 * the rest (`validation_split`) validate.
 * @throws {EngineError} `invalid_spec` when no training sample is left.
 */
function splitOrder(
  n: number,
  spec: JobSpec,
): { perm: Int32Array; trainCount: number } {
  const trainCount = n - Math.floor(n * spec.validation_split);
  if (trainCount < 1) {
    throw new EngineError(
      "invalid_spec",
      `validation_split ${spec.validation_split} leaves no training samples`,
    );
  }
  const perm = new Rng(deriveSeed(spec.seed, SEED_STREAM.split)).permutation(n);
  return { perm, trainCount };
}
