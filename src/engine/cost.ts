/**
 * A job's peak memory and per-step FLOPs, estimated from the spec and a few
 * dataset facts before anything is allocated. The estimate is meant to be
 * conservative (an over-count), not exact; each term below says what it
 * counts, mirroring the code it models:
 *
 * - `parameters`: kernels and biases, float32 on the backend.
 * - `optimizer_state`: what lives for the whole run besides the weights:
 *   momentum slots (sgd, ngd, fngd, kfac when momentum > 0), Adam's two
 *   moments, K-FAC's factors A and G and their inverses, and fngd's cached
 *   coefficients (M floats per (batch, layer), kept on the backend and again
 *   in the coefficient store). `ngd` re-solves every step and keeps none.
 * - `activations`: one training step at the batch size, inside its one
 *   `tf.tidy`, so every intermediate is alive at the end: the forward pass
 *   (inputs, conv patch matrices of `M * outH*outW * kh*kw*c_in` floats, the
 *   pre-activations, probes and activations, pools, the loss), the copies
 *   of conv inputs TF.js keeps for their gradients (wasm clones by
 *   copying), a same-sized gradient for each forward tensor (backward) plus
 *   the input-sized gradients of slice-extracted patches, each layer's
 *   transposed inputs, and the update's parameter-sized temporaries; or,
 *   when larger, the forward pass of one evaluation chunk.
 * - `curvature`: per-step curvature temporaries. fngd (inversion epochs) and
 *   ngd: the M x M Gram matrix per preconditioned layer with its float32
 *   intermediates on the backend, its float32 host copy, and the float64
 *   system and Cholesky factor in JS. kfac: the per-batch factors and their
 *   running averages on the backend, and at an inverse refresh the host
 *   copies and float64 Cholesky and inverse of every factor.
 * - `dataset`: the host arrays: whatever the loader holds (raw file bytes,
 *   the synthetic generator's basis), the float32 samples and labels, the
 *   shuffled train/validation copies the trainer makes, and one-hot labels.
 * - `checkpoint`: host copies of weights and optimizer slots at an epoch end
 *   (read back, then encoded to bytes).
 *
 * Everything is summed, though not all of it is alive at once (the loader's
 * bytes are garbage once the data is built): that is the margin. Not
 * counted: the runtime itself (Deno, TF.js and the wasm module, about 200 MB),
 * which the limit's default leaves room for.
 */
import { chooseConvGramMethod } from "./gram_method.ts";
import type { OptimizerSpec } from "./spec.ts";
import {
  IDENTITY_CONV_MAX_PATCH,
  type ModelShapes,
  type PatchGeometry,
  type PlannedTrainable,
} from "./shapes.ts";

/** Rows per forward pass in evaluation; evaluate.ts reads it from here. */
export const EVAL_CHUNK_ROWS = 1024;

const F32 = 4;
const F64 = 8;

/** Dataset facts the estimate needs, known before the data is loaded. */
export interface DatasetInfo {
  /** Shape of one sample. */
  sampleShape: number[];
  /** Samples before the validation split (an upper bound for uploads). */
  trainSamples: number;
  /** Samples of the official test split; 0 when there is none. */
  testSamples: number;
  /** Classes, when known before loading; uploads do not record them. */
  classes?: number;
  /** Host bytes the loader holds besides the samples: raw file bytes, the generator's basis. */
  loaderBytes: number;
}

/** Estimated peak bytes, by what holds them. */
export interface MemoryEstimate {
  total_bytes: number;
  parameters: number;
  optimizer_state: number;
  activations: number;
  curvature: number;
  dataset: number;
  checkpoint: number;
}

/**
 * FLOPs of one training step (a multiply-add counts 2). For fngd this is a
 * step of an inversion epoch, the expensive kind; inverse-free steps have no
 * `curvature` term. For kfac, inverse refreshes are amortised over `inv_every`.
 */
export interface FlopEstimate {
  total: number;
  forward: number;
  backward: number;
  curvature: number;
  update: number;
}

/** The whole estimate. */
export interface JobCostEstimate {
  bytes: MemoryEstimate;
  flops: FlopEstimate;
  /** The batch size M the step terms assume (batch_size, or fewer training rows). */
  batch_rows: number;
  /** Training rows after the validation split. */
  train_rows: number;
}

/** The training-set facts a cost estimate needs from the job spec. */
export interface CostSpec {
  optimizer: OptimizerSpec;
  batch_size: number;
  validation_split: number;
}

const product = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Kernel plus bias floats of one layer. */
const layerParams = (l: PlannedTrainable) => l.fanIn * l.units + l.units;

/**
 * Floats alive after one forward pass over `m` rows. With `probes` (training),
 * each trainable layer also holds its zero probe and the probe sum.
 */
function forwardFloats(shapes: ModelShapes, m: number, probes: boolean) {
  // The uploaded batch and its one-hot labels (as wide as the logits).
  let floats = m * product(shapes.inputShape) + m * shapes.outputUnits;
  for (const l of shapes.layers) {
    const out = m * product(l.output);
    if (l.type === "dense" || l.type === "conv2d") {
      if (l.geometry) {
        const g = l.geometry;
        const padded = paddedInputFloats(g, m);
        if (padded > m * g.inHeight * g.inWidth * g.channels) floats += padded;
        // The patch matrix, twice: the identity conv's output, or the kh*kw
        // slices and their concat.
        floats += 2 * m * l.positions * l.fanIn;
        if (probes) {
          // While gradients are recorded, TF.js keeps a clone of the inputs
          // a kernel's gradient needs, and wasm's clone is a copy: each of
          // the kh*kw slices keeps the whole padded input; the identity conv
          // its input and the identity filter.
          floats += l.fanIn > IDENTITY_CONV_MAX_PATCH
            ? g.kernel[0] * g.kernel[1] * padded
            : padded + l.fanIn * l.fanIn;
        }
      }
      const perOutput = 2 + (probes ? 2 : 0) +
        (l.activation === "linear" ? 0 : 1);
      floats += perOutput * out; // product, + bias, [probe, + probe], activation
    } else if (l.type === "max_pool2d") {
      floats += out;
    } // flatten is a reshape: it shares its input's buffer
  }
  // logSoftmax, its product with the labels, and the argmax/equal of evaluation.
  return floats + 3 * m * shapes.outputUnits;
}

/** Floats of a conv layer's zero-padded input batch. */
function paddedInputFloats(g: PatchGeometry, m: number): number {
  const [top, bottom, left, right] = g.pad;
  return m * (g.inHeight + top + bottom) * (g.inWidth + left + right) *
    g.channels;
}

/**
 * Patches taken by kh*kw slices (wide patches) get, in backward, one
 * gradient per slice as large as the whole padded input, then their sums:
 * more than a same-sized gradient when strides or padding make the padded
 * input larger than the output. Only downstream of the first probe.
 */
function sliceGradientFloats(
  l: PlannedTrainable,
  m: number,
  first: boolean,
): number {
  const g = l.geometry;
  if (!g || first || l.fanIn <= IDENTITY_CONV_MAX_PATCH) return 0;
  return 2 * g.kernel[0] * g.kernel[1] * paddedInputFloats(g, m);
}

/** Parameter-sized temporaries of one update, per update rule (counted from update_rules.ts). */
function updateTemporaries(optimizer: OptimizerSpec): number {
  // The direction itself, then: weight decay (2), momentum (3), Nesterov (2), lr and subtract (2).
  if (optimizer.name !== "adamw") return 1 + 9;
  // The direction, then 15 elementwise results per Adam update.
  return 1 + 15;
}

/** Slot floats (momentum or Adam moments) per parameter. */
function slotsPerParam(optimizer: OptimizerSpec): number {
  if (optimizer.name === "adamw") return 2;
  return optimizer.momentum > 0 ? 1 : 0;
}

/** K-FAC's A, G, A^-1 and G^-1 of one layer, in floats. */
function kfacFactorFloats(l: PlannedTrainable): number {
  const na = l.fanIn + 1;
  return 2 * (na * na + l.units * l.units);
}

/** Backend floats of one layer's Gram computation over `m` samples (layer_math.ts). */
function gramBackendFloats(l: PlannedTrainable, m: number): number {
  const rows = m * l.positions;
  if (l.type === "dense") {
    // A A^T, + 1, E^T, E E^T, the two products.
    return 5 * m * m + l.units * m;
  }
  const method = chooseConvGramMethod(m, l.positions, l.fanIn, l.units);
  if (method === "pairwise") {
    // P P^T, + 1, E^T, E E^T, their product: (M T)^2 each; the block sum and scale.
    return 4 * rows * rows + rows * l.units + 2 * m * m;
  }
  // Patches transposed per sample, per-sample gradients and their transpose,
  // bias gradients and theirs, then Kw, Kb, their sum and its scale.
  return rows * l.fanIn + 2 * m * l.fanIn * l.units + 2 * m * l.units +
    4 * m * m;
}

/** Bytes of one layer's K-FAC factor update on the backend (layer_math.ts, kfac_optimizer.ts). */
function kfacStepFloats(l: PlannedTrainable, m: number): number {
  const rows = m * l.positions;
  const na = l.fanIn + 1;
  const ng = l.units;
  // [a, 1] and its transpose, A and A / rows; E^T, G and G * M; the running
  // averages (2 products and a sum each); the stacked gradient and 2 products.
  return 2 * rows * na + 2 * na * na + rows * ng + 2 * ng * ng +
    3 * (na * na + ng * ng) + 3 * na * ng;
}

function curvatureBytes(
  shapes: ModelShapes,
  optimizer: OptimizerSpec,
  m: number,
): number {
  const layers = shapes.trainable;
  if (optimizer.name === "ngd" || optimizer.name === "fngd") {
    let backend = 0;
    for (const l of layers) backend += gramBackendFloats(l, m);
    // readHost concatenates every Gram matrix and copies it to the host.
    const host = 2 * layers.length * m * m;
    // Per layer, the float64 system and the Cholesky factor (a working copy).
    const solve = layers.length * 2 * m * m * F64;
    return (backend + host) * F32 + solve;
  }
  if (optimizer.name === "kfac") {
    let step = 0;
    let factors = 0;
    let inverses = 0;
    for (const l of layers) {
      step += kfacStepFloats(l, m);
      const na = l.fanIn + 1;
      factors += na * na + l.units * l.units;
      // Per factor: float64 copy, Cholesky working copy, inverse workspace and
      // result; the float32 result and its upload.
      for (const n of [na, l.units]) inverses += n * n * (4 * F64 + 2 * F32);
    }
    // At a refresh every factor is concatenated on the backend and copied to the host.
    return step * F32 + 2 * factors * F32 + inverses;
  }
  return 0;
}

function curvatureFlops(
  shapes: ModelShapes,
  optimizer: OptimizerSpec,
  m: number,
): number {
  let flops = 0;
  for (const l of shapes.trainable) {
    const rows = m * l.positions;
    const k = l.fanIn;
    const u = l.units;
    if (optimizer.name === "ngd" || optimizer.name === "fngd") {
      if (l.type === "dense") {
        flops += 2 * m * m * (k + u) + 3 * m * m;
      } else if (chooseConvGramMethod(m, l.positions, k, u) === "pairwise") {
        flops += 2 * rows * rows * (k + u) + 3 * rows * rows;
      } else {
        flops += 2 * rows * k * u + 2 * m * m * (k * u + u) + 2 * m * m;
      }
      // Building the system, Cholesky (M^3 / 3), the two triangular solves.
      flops += 2 * m * m + (m * m * m) / 3 + 2 * m * m;
    } else if (optimizer.name === "kfac") {
      const na = k + 1;
      flops += 2 * rows * na * na + 2 * rows * u * u; // this batch's A and G
      flops += 3 * (na * na + u * u); // running averages
      flops += 2 * na * na * u + 2 * na * u * u; // A^-1 [dW; db] G^-1
      // Cholesky (n^3/3) and inverse (2n^3/3) of both factors, every inv_every steps.
      flops += (na ** 3 + u ** 3) / optimizer.inv_every;
    }
  }
  return flops;
}

/**
 * Estimates the job's peak memory and per-step FLOPs from its inferred
 * shapes and dataset facts; allocates nothing.
 */
export function estimateJobCost(
  spec: CostSpec,
  shapes: ModelShapes,
  data: DatasetInfo,
): JobCostEstimate {
  const { optimizer } = spec;
  const features = product(data.sampleShape);
  const valRows = Math.floor(data.trainSamples * spec.validation_split);
  const trainRows = data.trainSamples - valRows;
  const m = Math.max(1, Math.min(spec.batch_size, trainRows));
  const layers = shapes.trainable;

  const params = layers.reduce((n, l) => n + layerParams(l), 0);
  const slots = slotsPerParam(optimizer) * params;
  const kfacFactors = optimizer.name === "kfac"
    ? layers.reduce((n, l) => n + kfacFactorFloats(l), 0)
    : 0;
  // fngd's M c columns: one float per training row and layer on the backend,
  // and the same again in the coefficient store.
  const coefficients = optimizer.name === "fngd"
    ? 2 * trainRows * layers.length
    : 0;

  // Backward gives every forward intermediate a same-sized gradient: an
  // over-count, since only tensors downstream of a probe get one.
  let trainStep = 2 * forwardFloats(shapes, m, true);
  for (const l of layers) {
    const rows = m * l.positions;
    // Transposed inputs (for the weight gradient) and the weighted output gradient.
    trainStep += rows * l.fanIn + rows * l.units;
    trainStep += sliceGradientFloats(l, m, l === layers[0]);
  }
  trainStep += updateTemporaries(optimizer) * params;
  const evalRows = Math.min(
    EVAL_CHUNK_ROWS,
    Math.max(valRows, data.testSamples),
  );
  const evalStep = evalRows > 0 ? forwardFloats(shapes, evalRows, false) : 0;

  const rows = data.trainSamples + data.testSamples;
  const dataset = data.loaderBytes +
    rows * (features + 1) * F32 + // samples and labels as loaded
    data.trainSamples * (features + 1) * F32 + // the shuffled train/validation copies
    rows * shapes.outputUnits * F32; // one-hot labels

  const bytes = {
    parameters: params * F32,
    optimizer_state: (slots + kfacFactors + coefficients) * F32,
    activations: Math.max(trainStep, evalStep) * F32,
    curvature: curvatureBytes(shapes, optimizer, m),
    dataset,
    // Weights and checkpointed slots read to the host, then encoded to bytes.
    checkpoint: 2 * (params + slots + kfacFactors) * F32,
  };
  const total_bytes = bytes.parameters + bytes.optimizer_state +
    bytes.activations + bytes.curvature + bytes.dataset + bytes.checkpoint;

  const flops = stepFlops(shapes, optimizer, m, params);
  return {
    bytes: { total_bytes, ...bytes },
    flops,
    batch_rows: m,
    train_rows: trainRows,
  };
}

function stepFlops(
  shapes: ModelShapes,
  optimizer: OptimizerSpec,
  m: number,
  params: number,
): FlopEstimate {
  let forward = 0;
  let backward = 0;
  shapes.layers.forEach((l) => {
    if (l.type === "dense" || l.type === "conv2d") {
      const rows = m * l.positions;
      const matmul = 2 * rows * l.fanIn * l.units;
      // Identity-filter conv: every patch column sums fanIn inputs.
      const patches = l.type === "conv2d" && l.fanIn <= IDENTITY_CONV_MAX_PATCH
        ? 2 * rows * l.fanIn * l.fanIn
        : 0;
      const elementwise = 3 * rows * l.units; // bias, probe, activation
      forward += matmul + patches + elementwise;
      // The weight gradient A^T E is the optimizer's, for every layer.
      backward += matmul + elementwise;
      // The gradient to the inputs (and back through the patch extraction)
      // only exists downstream of the first probe.
      if (l !== shapes.trainable[0]) backward += matmul + patches;
    } else if (l.type === "max_pool2d") {
      const window = l.pool[0] * l.pool[1];
      forward += m * product(l.output) * window;
      backward += m * product(l.output) * window;
    }
  });
  const loss = 5 * m * shapes.outputUnits;
  forward += loss;
  backward += loss;
  const update = (optimizer.name === "adamw" ? 14 : 6) * params;
  const curvature = curvatureFlops(shapes, optimizer, m);
  return {
    total: forward + backward + curvature + update,
    forward,
    backward,
    curvature,
    update,
  };
}
