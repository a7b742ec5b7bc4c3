/**
 * Seeded synthetic classification data: Gaussian class clusters in a small
 * latent space, mapped linearly to vectors or to spatially smooth images.
 */
import type { z } from "zod";
import { deriveSeed, Rng } from "../rng.ts";
import type { SyntheticDatasetSpec } from "../spec.ts";
import type { Dataset } from "../types.ts";
import { syntheticLatentDim, syntheticShape } from "./synthetic_size.ts";

/** The validated synthetic dataset spec, defaults filled in. */
export type SyntheticSpec = z.infer<typeof SyntheticDatasetSpec>;

export { DEFAULT_SYNTHETIC_FEATURES } from "./synthetic_size.ts";

// Spread of the class centres relative to the unit within-class latent noise:
// large enough that a small model learns the classes well, small enough that
// they overlap and the task is not solved in one step.
const CENTRE_SCALE = 1.5;
// Independent noise on every feature keeps the data full-rank, as real data is.
const FEATURE_NOISE = 0.3;
// Side of the coarse grid image patterns are interpolated from; a small grid
// makes the class signal smooth across neighbouring pixels.
const COARSE_GRID = 4;

// Separate streams so that adding test samples never changes the training set.
const STREAM_CENTRES = 1;
const STREAM_BASIS = 2;
const STREAM_TRAIN = 3;
const STREAM_TEST = 4;

/** The fixed random map from latent class space to samples. */
interface Generator {
  latent: number;
  features: number;
  classes: number;
  /** `classes x latent` cluster centres. */
  centres: Float64Array;
  /** `features x latent` linear map. */
  basis: Float64Array;
  /** Per-feature factor that brings each feature to unit variance. */
  scale: Float64Array;
}

function normals(rng: Rng, n: number, sd: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = sd * rng.normal();
  return out;
}

/** Interpolates a coarse `gh x gw` grid bilinearly up to `h x w`. */
function upsample(
  coarse: Float64Array,
  gh: number,
  gw: number,
  h: number,
  w: number,
): Float64Array {
  const out = new Float64Array(h * w);
  const at = (i: number, j: number) => coarse[i * gw + j];
  for (let y = 0; y < h; y++) {
    const fy = h > 1 ? (y * (gh - 1)) / (h - 1) : 0;
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, gh - 1);
    const ty = fy - y0;
    for (let x = 0; x < w; x++) {
      const fx = w > 1 ? (x * (gw - 1)) / (w - 1) : 0;
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, gw - 1);
      const tx = fx - x0;
      const top = at(y0, x0) * (1 - tx) + at(y0, x1) * tx;
      const bottom = at(y1, x0) * (1 - tx) + at(y1, x1) * tx;
      out[y * w + x] = top * (1 - ty) + bottom * ty;
    }
  }
  return out;
}

/** A basis whose every latent direction is a smooth image, for conv nets. */
function smoothBasis(shape: number[], latent: number, rng: Rng): Float64Array {
  const [h, w, c = 1] = shape;
  const gh = Math.min(h, COARSE_GRID);
  const gw = Math.min(w, COARSE_GRID);
  const basis = new Float64Array(h * w * c * latent);
  for (let k = 0; k < latent; k++) {
    for (let ch = 0; ch < c; ch++) {
      const coarse = normals(rng, gh * gw, 1 / Math.sqrt(latent));
      const plane = upsample(coarse, gh, gw, h, w);
      // NHWC: pixel p of channel ch is feature p * c + ch.
      for (let p = 0; p < h * w; p++) {
        basis[(p * c + ch) * latent + k] = plane[p];
      }
    }
  }
  return basis;
}

function makeGenerator(spec: SyntheticSpec, shape: number[]): Generator {
  const features = shape.reduce((a, b) => a * b, 1);
  const latent = syntheticLatentDim(spec.classes);
  const centres = normals(
    new Rng(deriveSeed(spec.seed, STREAM_CENTRES)),
    spec.classes * latent,
    CENTRE_SCALE,
  );
  const basisRng = new Rng(deriveSeed(spec.seed, STREAM_BASIS));
  const basis = shape.length >= 2
    ? smoothBasis(shape, latent, basisRng)
    : normals(basisRng, features * latent, 1 / Math.sqrt(latent));
  // Var(x_j) = |A_j|^2 * Var(z) + noise^2, with Var(z) = centre spread + unit noise.
  const latentVar = CENTRE_SCALE ** 2 + 1;
  const scale = new Float64Array(features);
  for (let j = 0; j < features; j++) {
    let norm2 = 0;
    for (let k = 0; k < latent; k++) norm2 += basis[j * latent + k] ** 2;
    scale[j] = 1 / Math.sqrt(norm2 * latentVar + FEATURE_NOISE ** 2);
  }
  return { latent, features, classes: spec.classes, centres, basis, scale };
}

/** Labels in shuffled blocks of one of each class: balanced, yet random. */
function balancedLabels(n: number, classes: number, rng: Rng): Int32Array {
  const y = new Int32Array(n);
  for (let start = 0; start < n; start += classes) {
    const block = rng.permutation(classes);
    for (let i = 0; i < classes && start + i < n; i++) y[start + i] = block[i];
  }
  return y;
}

function sample(
  g: Generator,
  n: number,
  rng: Rng,
): { x: Float32Array; y: Int32Array } {
  const y = balancedLabels(n, g.classes, rng);
  const x = new Float32Array(n * g.features);
  const z = new Float64Array(g.latent);
  for (let s = 0; s < n; s++) {
    for (let k = 0; k < g.latent; k++) {
      z[k] = g.centres[y[s] * g.latent + k] + rng.normal();
    }
    for (let j = 0; j < g.features; j++) {
      let v = FEATURE_NOISE * rng.normal();
      for (let k = 0; k < g.latent; k++) v += g.basis[j * g.latent + k] * z[k];
      x[s * g.features + j] = v * g.scale[j];
    }
  }
  return { x, y };
}

/** Generates a learnable classification dataset fully determined by `spec.seed`. */
export function makeSyntheticDataset(spec: SyntheticSpec): Dataset {
  const shape = syntheticShape(spec);
  const g = makeGenerator(spec, shape);
  const train = sample(
    g,
    spec.samples,
    new Rng(deriveSeed(spec.seed, STREAM_TRAIN)),
  );
  const dataset: Dataset = {
    ...train,
    sampleShape: [...shape],
    classes: spec.classes,
  };
  if (spec.test_samples > 0) {
    dataset.test = sample(
      g,
      spec.test_samples,
      new Rng(deriveSeed(spec.seed, STREAM_TEST)),
    );
  }
  return dataset;
}
