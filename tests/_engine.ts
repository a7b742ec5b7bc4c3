/** Shared helpers for engine tests: small specs, float64 reference algebra. */
import {
  type Dataset,
  type EngineEvent,
  JobSpec,
  type JobSpecInput,
  type StepEventData,
  train,
  type TrainOptions,
  type TrainResult,
} from "../src/engine/mod.ts";
import { makeSyntheticDataset } from "../src/engine/data/mod.ts";

/** A small dense net on seeded vectors. */
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

/** A job spec for `model`, trained on a matching synthetic dataset. */
export function specFor(
  kind: "dense" | "conv",
  optimizer: JobSpecInput["optimizer"],
  extra: Partial<JobSpecInput> = {},
): JobSpec {
  const dataset = kind === "dense"
    ? { name: "synthetic", samples: 96, features: 12, classes: 4, seed: 3 }
    : { name: "synthetic", samples: 96, shape: [6, 6, 1], classes: 4, seed: 3 };
  return JobSpec.parse({
    model: kind === "dense" ? DENSE_MODEL : CONV_MODEL,
    dataset,
    optimizer,
    epochs: 3,
    batch_size: 16,
    seed: 7,
    validation_split: 0.25,
    ...extra,
  });
}

/** The synthetic dataset a spec names. */
export function dataFor(spec: JobSpec): Dataset {
  if (!("name" in spec.dataset) || spec.dataset.name !== "synthetic") {
    throw new Error("test specs use synthetic data");
  }
  return makeSyntheticDataset(spec.dataset);
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
