/**
 * A job's peak memory and per-step FLOPs, estimated from the spec and a few
 * dataset facts before anything is allocated. The estimate is meant to be
 * conservative (an over-count), not exact; each term below says what it
 * counts, mirroring the code it models:
 *
 * - `parameters`: kernels and biases, batch-norm scales, shifts and running
 *   statistics, float32 on the backend.
 * - `optimizer_state`: what lives for the whole run besides the weights:
 *   momentum slots (sgd, ngd, fngd, kfac when momentum > 0), Adam's two
 *   moments, K-FAC's factors A and G and their inverses, Shampoo's L and R
 *   and their roots, Eva's two vectors per layer, and fngd's cached
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
 *   copies and float64 Cholesky and inverse of every factor. shampoo and
 *   eva: shampoo_eva_cost.ts (statistics, direction temporaries, and
 *   Shampoo's float64 eigendecompositions at a root refresh).
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
import type { PlannedLayerBase } from "./layers/kind.ts";
import { type PlannedLayer, plannerOf } from "./layers/plans.ts";
import {
  gramFloats,
  gramFlops,
  kfacAFloats,
  kfacSizes,
  kfacStepFloats,
  siteParams,
  siteStepFloats,
} from "./layers/linear_cost.ts";
import type { OptimizerSpec } from "./spec.ts";
import type { ModelShapes } from "./shapes.ts";
import {
  preconditionerCurvatureBytes,
  preconditionerCurvatureFlops,
  preconditionerStateFloats,
} from "./shampoo_eva_cost.ts";

/**
 * Rows per forward pass in evaluation; evaluate.ts reads it from here. At
 * 1024 rows the ResNet example's evaluation held 2.1 GiB of activations, more
 * than its training step; 512 halves that at no measurable cost in speed.
 */
export const EVAL_CHUNK_ROWS = 512;

/**
 * Positions per evaluation forward pass of a sequence model: a chunk of
 * 1024 sequences of T tokens would hold T times the activations (and
 * attention's heads x T^2 scores), e.g. 3.6 GB for T = 89, D = 128.
 */
export const EVAL_CHUNK_POSITIONS = 16_384;

/** Samples per evaluation forward pass when each has `positions` positions (1 for vectors). */
export function evalChunkRows(positions: number): number {
  if (positions <= 1) return EVAL_CHUNK_ROWS;
  return Math.max(
    1,
    Math.min(EVAL_CHUNK_ROWS, Math.floor(EVAL_CHUNK_POSITIONS / positions)),
  );
}

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
  /**
   * Whether every input value lies in [0, 1], when known before loading:
   * true for the named image datasets, false for synthetic data (Gaussian
   * features). Sigmoid cross-entropy autoencoders need it.
   */
  inputsInUnitInterval?: boolean;
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
 * `curvature` term. For kfac, inverse refreshes are amortised over `inv_every`,
 * for shampoo root refreshes over `update_every`.
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

/** Every planned layer, a block's nested layers after the block itself. */
export function allLayers(layers: readonly PlannedLayerBase[]): PlannedLayer[] {
  return layers.flatMap((l) => [
    l as PlannedLayer,
    ...allLayers(l.children ?? []),
  ]);
}

/**
 * Floats alive after one forward pass over `m` rows. With `probes` (training),
 * each weight site also holds its zero probe and the probe sum.
 */
function forwardFloats(shapes: ModelShapes, m: number, probes: boolean) {
  // The uploaded batch and its one-hot labels (as wide as the logits).
  let floats = m * product(shapes.inputShape) + m * shapes.outputSize;
  for (const l of allLayers(shapes.layers)) {
    floats += plannerOf(l.type).forwardFloats(l, m, probes);
  }
  // logSoftmax, its product with the labels, and the argmax/equal of evaluation.
  return floats + 3 * m * shapes.outputSize;
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

function curvatureBytes(
  shapes: ModelShapes,
  optimizer: OptimizerSpec,
  m: number,
): number {
  const sites = shapes.trainable;
  if (optimizer.name === "ngd" || optimizer.name === "fngd") {
    let backend = 0;
    for (const s of sites) backend += gramFloats(s, m);
    // readHost concatenates every Gram matrix and copies it to the host.
    const host = 2 * sites.length * m * m;
    // Per site, the float64 system and the Cholesky factor (a working copy).
    const solve = sites.length * 2 * m * m * F64;
    return (backend + host) * F32 + solve;
  }
  if (optimizer.name === "kfac") {
    let step = 0;
    let factors = 0;
    let inverses = 0;
    for (const s of sites) {
      step += kfacStepFloats(s, m);
      const { g } = kfacSizes(s);
      const aa = kfacAFloats(s);
      factors += aa + g * g;
      // Per factor: float64 copy, Cholesky working copy, inverse workspace and
      // result; the float32 result and its upload.
      for (const n of [aa, g * g]) inverses += n * (4 * F64 + 2 * F32);
    }
    // At a refresh every factor is concatenated on the backend and copied to the host.
    return step * F32 + 2 * factors * F32 + inverses;
  }
  return preconditionerCurvatureBytes(optimizer, sites, m);
}

function curvatureFlops(
  shapes: ModelShapes,
  optimizer: OptimizerSpec,
  m: number,
): number {
  let flops = 0;
  for (const s of shapes.trainable) {
    if (optimizer.name === "ngd" || optimizer.name === "fngd") {
      flops += gramFlops(s, m);
      // Building the system, Cholesky (M^3 / 3), the two triangular solves.
      flops += 2 * m * m + (m * m * m) / 3 + 2 * m * m;
    } else if (optimizer.name === "kfac") {
      const rows = m * s.positions;
      const { a, g, diagonalA } = kfacSizes(s);
      const aa = kfacAFloats(s);
      // This batch's A and G and their running averages, every factor_every steps.
      flops += (2 * rows * aa + 2 * rows * g * g + 3 * (aa + g * g)) /
        optimizer.factor_every;
      // A^-1 [dW; db] G^-1 in the cheaper order (linear_site.ts kfacDirection).
      const gradFirst = 2 * aa * g + 2 * a * g * g;
      const capturesFirst = diagonalA
        ? gradFirst
        : 2 * a * a * rows + 2 * rows * g * g;
      flops += Math.min(gradFirst, capturesFirst);
      // Cholesky (n^3/3) and inverse (2n^3/3) of both factors, every
      // inv_every steps; a diagonal A inverts entry by entry.
      flops += ((diagonalA ? a : a ** 3) + g ** 3) / optimizer.inv_every;
    }
  }
  return flops + preconditionerCurvatureFlops(optimizer, shapes.trainable, m);
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
  const sites = shapes.trainable;

  const layers = allLayers(shapes.layers);
  // Batch-norm scale and shift take the base rule: slots, no curvature.
  const plain = layers.reduce((n, l) => n + (l.plainParams ?? 0), 0);
  const params = sites.reduce((n, s) => n + siteParams(s), 0) + plain;
  // Running statistics: saved and exported like weights, never updated by a rule.
  const frozen = layers.reduce((n, l) => n + (l.stateFloats ?? 0), 0);
  const slots = slotsPerParam(optimizer) * params;
  // K-FAC's A, G, A^-1 and G^-1 of every site; Shampoo's and Eva's state.
  const factorState = optimizer.name === "kfac"
    ? sites.reduce((n, s) => {
      const { g } = kfacSizes(s);
      return n + 2 * (kfacAFloats(s) + g * g);
    }, 0)
    : preconditionerStateFloats(optimizer, sites);
  // fngd's M c columns: one float per training row and site on the backend,
  // and the same again in the coefficient store.
  const coefficients = optimizer.name === "fngd"
    ? 2 * trainRows * sites.length
    : 0;

  // Backward gives every forward intermediate a same-sized gradient: an
  // over-count, since only tensors downstream of a probe get one.
  let trainStep = 2 * forwardFloats(shapes, m, true);
  for (const s of sites) trainStep += siteStepFloats(s, m);
  for (const l of allLayers(shapes.layers)) {
    trainStep += plannerOf(l.type).backwardFloats(l, m, l.inputGradient);
  }
  trainStep += updateTemporaries(optimizer) * params;
  const evalRows = Math.min(
    evalChunkRows(shapes.outputSize / shapes.outputUnits),
    Math.max(valRows, data.testSamples),
  );
  const evalStep = evalRows > 0 ? forwardFloats(shapes, evalRows, false) : 0;

  const rows = data.trainSamples + data.testSamples;
  const dataset = data.loaderBytes +
    rows * (features + 1) * F32 + // samples and labels as loaded
    data.trainSamples * (features + 1) * F32 + // the shuffled train/validation copies
    rows * shapes.outputUnits * F32; // one-hot labels

  const bytes = {
    parameters: (params + frozen) * F32,
    optimizer_state: (slots + factorState + coefficients) * F32,
    activations: Math.max(trainStep, evalStep) * F32,
    curvature: curvatureBytes(shapes, optimizer, m),
    dataset,
    // Weights and checkpointed slots read to the host, then encoded to bytes.
    checkpoint: 2 * (params + frozen + slots + factorState) * F32,
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
  for (const l of allLayers(shapes.layers)) {
    const f = plannerOf(l.type).flops(l, m, l.inputGradient);
    forward += f.forward;
    backward += f.backward;
  }
  const loss = 5 * m * shapes.outputSize;
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
