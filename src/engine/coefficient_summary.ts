/**
 * Per-layer mean, min and max of FNGD coefficient vectors. The optimizer's
 * `coefficients` event and the API's coefficient summary both tally through
 * this, so the two report the same numbers for the same vectors.
 */
import type { CoefficientLayerSummary } from "./types.ts";

interface Totals {
  batches: number;
  count: number;
  sum: number;
  min: number;
  max: number;
}

const empty = (): Totals => ({
  batches: 0,
  count: 0,
  sum: 0,
  min: Infinity,
  max: -Infinity,
});

/** Accumulates coefficient vectors, one per (batch, layer), into per-layer summaries. */
export class CoefficientTally {
  readonly #layers = new Map<number, Totals>();

  /** `layers`: layers to report even when no vector of theirs is added. */
  constructor(layers: Iterable<number> = []) {
    for (const layer of layers) this.#layers.set(layer, empty());
  }

  /** Adds one batch's vector of `layer`. */
  add(layer: number, coefficients: Float32Array): void {
    let t = this.#layers.get(layer);
    if (!t) this.#layers.set(layer, t = empty());
    t.batches += 1;
    t.count += coefficients.length;
    for (const v of coefficients) {
      t.sum += v;
      if (v < t.min) t.min = v;
      if (v > t.max) t.max = v;
    }
  }

  /**
   * One summary per layer, in layer order; a layer without values reads 0.
   * `damping` is the optimizer's alpha, which every layer shares.
   */
  summary(damping: number): CoefficientLayerSummary[] {
    return [...this.#layers].sort(([a], [b]) => a - b).map(([layer, t]) => ({
      layer,
      batches: t.batches,
      mean: t.count > 0 ? t.sum / t.count : 0,
      min: t.count > 0 ? t.min : 0,
      max: t.count > 0 ? t.max : 0,
      damping,
    }));
  }
}
