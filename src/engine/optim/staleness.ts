/**
 * How stale fngd's reused coefficients are, in numbers: the drift signal
 * that `refresh: "auto"` compares with its threshold, the measurements of the
 * probe batches, and their per-epoch, per-layer summary (the `staleness`
 * event). Pure host arithmetic in float64; no tensors.
 */
import type { StalenessEventData, StalenessLayer } from "../types.ts";

/**
 * The drift signal: the total-variation distance between the per-sample
 * Gram-diagonal proxies `d` (now) and `d0` (when solved), each normalised
 * to sum 1, in [0, 1]. Scale-free, as the coefficients are: their damping
 * scales with `||K||_F`, so a uniformly larger K leaves them unchanged,
 * while a shift of weight between samples does not. 0 when either is empty
 * or all zero (nothing to compare).
 */
export function driftSignal(
  d: ArrayLike<number>,
  d0: ArrayLike<number>,
): number {
  if (d.length === 0 || d.length !== d0.length) return 0;
  let s = 0;
  let s0 = 0;
  for (let i = 0; i < d.length; i++) {
    s += d[i];
    s0 += d0[i];
  }
  if (!(s > 0 && s0 > 0)) return 0;
  let tv = 0;
  for (let i = 0; i < d.length; i++) tv += Math.abs(d[i] / s - d0[i] / s0);
  return tv / 2;
}

/** `||d - d0|| / ||d0||`, or null when `d0` is empty, mismatched or zero. */
export function relativeChange(
  d: ArrayLike<number>,
  d0: ArrayLike<number>,
): number | null {
  if (d0.length === 0 || d.length !== d0.length) return null;
  let num = 0;
  let den = 0;
  for (let i = 0; i < d.length; i++) {
    num += (d[i] - d0[i]) ** 2;
    den += d0[i] ** 2;
  }
  return den > 0 ? Math.sqrt(num / den) : null;
}

/**
 * The cosine between the directions `U a` and `U b` (U the per-sample
 * gradients), from the Gram matrix `K = U^T U` alone:
 * `a^T K b / sqrt(a^T K a * b^T K b)`. 1 when either direction vanishes.
 */
export function directionCosine(
  k: ArrayLike<number>,
  m: number,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
): number {
  const ka = new Float64Array(m);
  const kb = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let sa = 0;
    let sb = 0;
    for (let j = 0; j < m; j++) {
      // Symmetrised, as the solve symmetrises K.
      const kij = 0.5 * (k[i * m + j] + k[j * m + i]);
      sa += kij * a[j];
      sb += kij * b[j];
    }
    ka[i] = sa;
    kb[i] = sb;
  }
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < m; i++) {
    ab += a[i] * kb[i];
    aa += a[i] * ka[i];
    bb += b[i] * kb[i];
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 1;
}

/**
 * Whether `batch` is one of the `samples` probe batches of an epoch of
 * `batches`: evenly spaced batch indices, the same every epoch, so that a
 * layer's staleness is followed on the same batches over time.
 */
export function isProbeBatch(
  batch: number,
  batches: number,
  samples: number,
): boolean {
  if (samples <= 0) return false;
  const stride = Math.max(1, Math.floor(batches / samples));
  return batch % stride === 0 && batch / stride < samples;
}

interface Accumulator {
  probes: number;
  cosineSum: number;
  cosineMin: number;
  changeSum: number;
  changes: number;
  checked: number;
  signalSum: number;
  signalMax: number;
  refreshes: number;
}

/** Per-epoch, per-layer sums of the measurements, for the `staleness` event. */
export class StalenessTracker {
  readonly #byEpoch = new Map<number, Accumulator[]>();

  constructor(readonly layers: number) {}

  #at(epoch: number, layer: number): Accumulator {
    let all = this.#byEpoch.get(epoch);
    if (!all) {
      all = Array.from({ length: this.layers }, () => ({
        probes: 0,
        cosineSum: 0,
        cosineMin: Infinity,
        changeSum: 0,
        changes: 0,
        checked: 0,
        signalSum: 0,
        signalMax: 0,
        refreshes: 0,
      }));
      this.#byEpoch.set(epoch, all);
    }
    return all[layer];
  }

  /** A drift signal computed for (some batch, `layer`). */
  checked(epoch: number, layer: number, signal: number): void {
    const a = this.#at(epoch, layer);
    a.checked += 1;
    a.signalSum += signal;
    a.signalMax = Math.max(a.signalMax, signal);
  }

  /** A probe's measurements: direction cosine and diagonal change. */
  probed(
    epoch: number,
    layer: number,
    cosine: number,
    change: number | null,
  ): void {
    const a = this.#at(epoch, layer);
    a.probes += 1;
    a.cosineSum += cosine;
    a.cosineMin = Math.min(a.cosineMin, cosine);
    if (change !== null) {
      a.changeSum += change;
      a.changes += 1;
    }
  }

  refreshed(epoch: number, layer: number): void {
    this.#at(epoch, layer).refreshes += 1;
  }

  /** The epoch's summary (and forgets it), or undefined when nothing was measured. */
  summary(epoch: number): StalenessEventData | undefined {
    const all = this.#byEpoch.get(epoch);
    if (!all) return undefined;
    this.#byEpoch.delete(epoch);
    const layers: StalenessLayer[] = all.map((a, layer) => ({
      layer,
      probes: a.probes,
      cosine_mean: a.probes ? a.cosineSum / a.probes : null,
      cosine_min: a.probes ? a.cosineMin : null,
      diagonal_change_mean: a.changes ? a.changeSum / a.changes : null,
      checked: a.checked,
      signal_mean: a.checked ? a.signalSum / a.checked : null,
      signal_max: a.checked ? a.signalMax : null,
      refreshes: a.refreshes,
    }));
    return { epoch, layers };
  }
}
