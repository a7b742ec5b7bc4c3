/** Shared helpers for engine tests: small specs, float64 reference algebra. */
import {
  type Dataset,
  type EngineEvent,
  JobSpec,
  type JobSpecInput,
  type OptimizerName,
  type StepEventData,
  train,
  type TrainOptions,
  type TrainResult,
} from "../src/engine/mod.ts";
import { makeSyntheticDataset } from "../src/engine/data/mod.ts";

/** A small dense net on seeded vectors. */
/** A learning rate per optimizer that trains the small test tasks stably. */
export const TEST_LR = {
  sgd: 0.05,
  adamw: 0.01,
  ngd: 0.05,
  fngd: 0.05,
  kfac: 0.01,
  shampoo: 0.1,
  eva: 0.1,
} as const satisfies Record<OptimizerName, number>;

export const DENSE_MODEL = {
  input_shape: [12],
  layers: [
    { type: "dense", units: 8, activation: "tanh" },
    { type: "dense", units: 6, activation: "relu" },
    { type: "dense", units: 4 },
  ],
} as const;

/** A small conv net on seeded 6x6 images: conv (same), pool, conv (valid, stride 2), dense. */
export const CONV_MODEL = {
  input_shape: [6, 6, 1],
  layers: [
    {
      type: "conv2d",
      filters: 3,
      kernel_size: 3,
      padding: "same",
      activation: "relu",
    },
    { type: "max_pool2d", pool_size: 2 },
    {
      type: "conv2d",
      filters: 2,
      kernel_size: 2,
      strides: 1,
      activation: "tanh",
    },
    { type: "flatten" },
    { type: "dense", units: 4 },
  ],
} as const;

/**
 * A small residual net with batch norm on seeded 6x6 images: a conv stem,
 * a conv-bn-relu-conv-bn block with the identity shortcut, a strided one
 * with a 1x1-conv + bn shortcut, global average pooling, dense.
 */
export const RESIDUAL_MODEL = {
  input_shape: [6, 6, 1],
  layers: [
    {
      type: "conv2d",
      filters: 4,
      kernel_size: 3,
      padding: "same",
      activation: "relu",
    },
    {
      type: "residual",
      layers: [
        { type: "conv2d", filters: 4, kernel_size: 3, padding: "same" },
        { type: "batch_norm", activation: "relu" },
        { type: "conv2d", filters: 4, kernel_size: 3, padding: "same" },
        { type: "batch_norm" },
      ],
      activation: "relu",
    },
    {
      type: "residual",
      layers: [
        {
          type: "conv2d",
          filters: 6,
          kernel_size: 3,
          strides: 2,
          padding: "same",
        },
        { type: "batch_norm", activation: "relu", momentum: 0.9 },
        { type: "conv2d", filters: 6, kernel_size: 3, padding: "same" },
        { type: "batch_norm" },
      ],
      shortcut: [
        { type: "conv2d", filters: 6, kernel_size: 1, strides: 2 },
        { type: "batch_norm" },
      ],
      activation: "relu",
    },
    { type: "global_avg_pool2d" },
    { type: "dense", units: 4 },
  ],
} as const;

/**
 * Every other new kind on 6x6 images: average pooling, dropout on images
 * and vectors, batch norm over vectors, a nested residual block.
 */
export const MIXED_MODEL = {
  input_shape: [6, 6, 1],
  layers: [
    {
      type: "conv2d",
      filters: 4,
      kernel_size: 3,
      padding: "same",
      activation: "relu",
    },
    { type: "avg_pool2d", pool_size: 2 },
    { type: "dropout", rate: 0.25 },
    {
      type: "residual",
      layers: [
        {
          type: "residual",
          layers: [{ type: "conv2d", filters: 4, kernel_size: 1 }],
        },
        { type: "batch_norm", activation: "relu" },
      ],
    },
    { type: "flatten" },
    { type: "dense", units: 8 },
    { type: "batch_norm", activation: "tanh" },
    { type: "dropout", rate: 0.5 },
    { type: "dense", units: 4 },
  ],
} as const;

/** The test nets by name. */
export const MODELS = {
  dense: DENSE_MODEL,
  conv: CONV_MODEL,
  residual: RESIDUAL_MODEL,
  mixed: MIXED_MODEL,
} as const;

/** A net of {@link MODELS}. */
export type ModelKind = keyof typeof MODELS;

/** An autoencoder-shaped dense net: 12-8-3-8-12, a linear 3-unit code. */
export const AUTOENCODER_MODEL = {
  input_shape: [12],
  layers: [
    { type: "dense", units: 8, activation: "tanh" },
    { type: "dense", units: 3 },
    { type: "dense", units: 8, activation: "relu" },
    { type: "dense", units: 12 },
  ],
} as const;

/** The autoencoder under each vector loss, by test kind. */
export const AUTOENCODER_LOSSES = {
  ae_sigmoid: "sigmoid_cross_entropy",
  ae_mse: "mse",
} as const;

/** A classifier of {@link MODELS} or an autoencoder of {@link AUTOENCODER_LOSSES}. */
export type TestKind = ModelKind | keyof typeof AUTOENCODER_LOSSES;

/** A job spec for `model`, trained on a matching synthetic dataset. */
export function specFor(
  kind: TestKind,
  optimizer: JobSpecInput["optimizer"],
  extra: Partial<JobSpecInput> = {},
): JobSpec {
  const vectors = kind === "dense" || kind in AUTOENCODER_LOSSES;
  const dataset = vectors
    ? { name: "synthetic", samples: 96, features: 12, classes: 4, seed: 3 }
    : { name: "synthetic", samples: 96, shape: [6, 6, 1], classes: 4, seed: 3 };
  const task = kind === "ae_sigmoid" || kind === "ae_mse"
    ? { target: "input", loss: AUTOENCODER_LOSSES[kind] } as const
    : {};
  return JobSpec.parse({
    model: kind === "ae_sigmoid" || kind === "ae_mse"
      ? AUTOENCODER_MODEL
      : MODELS[kind],
    dataset,
    ...task,
    optimizer,
    epochs: 3,
    batch_size: 16,
    seed: 7,
    validation_split: 0.25,
    ...extra,
  });
}

/**
 * The synthetic dataset a spec names. An autoencoder's inputs are squashed
 * into (0, 1) by the logistic function, so that they are valid
 * sigmoid cross-entropy targets (the engine refuses Gaussian features there).
 */
export function dataFor(spec: JobSpec): Dataset {
  if (!("name" in spec.dataset) || spec.dataset.name !== "synthetic") {
    throw new Error("test specs use synthetic data");
  }
  const data = makeSyntheticDataset(spec.dataset);
  if (spec.target !== "input") return data;
  const squash = (x: Float32Array) => x.map((v) => 1 / (1 + Math.exp(-v)));
  return {
    ...data,
    x: squash(data.x),
    test: data.test && { ...data.test, x: squash(data.test.x) },
  };
}

/** Trains and records every event (step events unthrottled). */
export async function trainRecording(
  spec: JobSpec,
  options: TrainOptions = {},
): Promise<
  { result: TrainResult; events: EngineEvent[]; steps: StepEventData[] }
> {
  const events: EngineEvent[] = [];
  const result = await train(spec, dataFor(spec), {
    stepEventIntervalMs: 0,
    ...options,
    onEvent: async (e) => {
      events.push(e);
      await options.onEvent?.(e);
    },
  });
  const steps = events.flatMap((e) => e.type === "step" ? [e.data] : []);
  return { result, events, steps };
}

/**
 * Solves `A x = b` for a dense n x n float64 matrix by Gaussian elimination
 * with partial pivoting: a reference independent of the engine's Cholesky.
 */
export function gaussSolve(
  a: Float64Array,
  b: Float64Array,
  n: number,
): Float64Array {
  const m = a.slice();
  const x = b.slice();
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) {
      if (Math.abs(m[r * n + col]) > Math.abs(m[piv * n + col])) piv = r;
    }
    if (piv !== col) {
      for (let k = 0; k < n; k++) {
        const t = m[col * n + k];
        m[col * n + k] = m[piv * n + k];
        m[piv * n + k] = t;
      }
      const t = x[col];
      x[col] = x[piv];
      x[piv] = t;
    }
    for (let r = col + 1; r < n; r++) {
      const f = m[r * n + col] / m[col * n + col];
      if (f === 0) continue;
      for (let k = col; k < n; k++) m[r * n + k] -= f * m[col * n + k];
      x[r] -= f * x[col];
    }
  }
  for (let r = n - 1; r >= 0; r--) {
    let s = x[r];
    for (let k = r + 1; k < n; k++) s -= m[r * n + k] * x[k];
    x[r] = s / m[r * n + r];
  }
  return x;
}

/** `||a - b|| / ||b||` over flat arrays. */
export function relativeError(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/** `lambda (F + lambda I)^-1 gbar` from explicit per-sample gradients, in float64. */
export function referenceDirection(
  columns: Float64Array[],
  alpha: number,
): Float64Array {
  const m = columns.length;
  const p = columns[0].length;
  let kNorm2 = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      let dot = 0;
      for (let r = 0; r < p; r++) dot += columns[i][r] * columns[j][r];
      kNorm2 += dot * dot;
    }
  }
  const lambda = alpha * Math.sqrt(kNorm2) / m;
  const f = new Float64Array(p * p);
  const gbar = new Float64Array(p);
  for (const g of columns) {
    for (let r = 0; r < p; r++) {
      gbar[r] += g[r] / m;
      for (let c = 0; c < p; c++) f[r * p + c] += g[r] * g[c] / m;
    }
  }
  for (let r = 0; r < p; r++) f[r * p + r] += lambda;
  return gaussSolve(f, gbar, p).map((v) => v * lambda);
}
