/**
 * What the synthetic generator allocates, computed from the spec alone so the
 * spec can refuse a dataset before a byte of it exists. Kept beside the
 * generator's constants: change one, change the other.
 */

/** Feature count when the spec gives neither `features` nor `shape`. */
export const DEFAULT_SYNTHETIC_FEATURES = 64;

/** Dimension of the latent class space for `classes` classes. */
export function syntheticLatentDim(classes: number): number {
  return Math.min(32, Math.max(4, classes));
}

/** The spec fields that decide the generator's size. */
export interface SyntheticSizeInput {
  samples: number;
  test_samples: number;
  features?: number;
  shape?: number[];
  classes: number;
}

/** Bytes the synthetic generator holds at its peak, by what holds them. */
export interface SyntheticBytes {
  /** float32 features and int32 labels of the training and test samples. */
  samples: number;
  /**
   * float64 working arrays of the generator: the class centres, the
   * `features x latent` basis (the big one: 8 bytes per feature per latent
   * dimension), the per-feature scale, and one upsampled image plane.
   */
  generator: number;
  total: number;
}

/** The sample shape a synthetic spec produces. */
export function syntheticShape(spec: SyntheticSizeInput): number[] {
  return spec.shape ? [...spec.shape] : [
    spec.features ?? DEFAULT_SYNTHETIC_FEATURES,
  ];
}

/** Peak bytes `makeSyntheticDataset(spec)` allocates. */
export function syntheticBytes(spec: SyntheticSizeInput): SyntheticBytes {
  const shape = syntheticShape(spec);
  const features = shape.reduce((a, b) => a * b, 1);
  const latent = syntheticLatentDim(spec.classes);
  const rows = spec.samples + spec.test_samples;
  const samples = rows * (features * 4 + 4);
  const plane = shape.length >= 2 ? shape[0] * shape[1] * 8 : 0;
  const generator = 8 * (spec.classes * latent + features * latent + features) +
    plane;
  return { samples, generator, total: samples + generator };
}
