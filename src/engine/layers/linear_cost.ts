/**
 * Pure arithmetic of a linear weight site (`rows @ kernel + bias` at T
 * positions per sample): the choice of Gram formula, which the Gram code and
 * the cost estimate share, and the site's terms of the cost estimate. Loads
 * no TF.js. Each term mirrors the code named beside it.
 */
import type { Activation } from "../spec_fields.ts";
import { chooseEmbeddingGram } from "./embedding_plan.ts";
import type { SiteShape } from "./kind.ts";

/** Which positional Gram formula a site uses; both give the same K. */
export type GramMethod = "per_sample" | "pairwise";

/**
 * Picks the cheaper Gram formula for T > 1 positions by flop count:
 * per-sample gradients cost `M T k u + M^2 k u`, pairwise position products
 * `(M T)^2 (k + u)`.
 */
export function chooseGramMethod(
  m: number,
  positions: number,
  fanIn: number,
  units: number,
): GramMethod {
  const perSample = m * positions * fanIn * units + m * m * (fanIn + 1) * units;
  const pairwise = (m * positions) ** 2 * (fanIn + 1 + units);
  // The pairwise form materialises (M T)^2 values; cap it to keep memory bounded.
  return pairwise < perSample && (m * positions) ** 2 <= 4_000_000
    ? "pairwise"
    : "per_sample";
}

/** Kernel plus bias floats. */
export const siteParams = (s: SiteShape) =>
  s.fanIn * s.units + (s.withoutBias ? 0 : s.units);

/**
 * Widths of K-FAC's factors: A over `[a, 1]` (`a` without a bias), G over
 * the outputs. One-hot rows make A diagonal: it is kept as its diagonal
 * (a vocabulary of 10^4 would otherwise need a 10^4 x 10^4 factor and its
 * Cholesky inverse).
 */
export const kfacSizes = (s: SiteShape) => ({
  a: s.fanIn + (s.withoutBias ? 0 : 1),
  g: s.units,
  diagonalA: s.oneHot !== undefined,
});

/** Floats of K-FAC's A factor: its diagonal, or the whole matrix. */
export function kfacAFloats(s: SiteShape): number {
  const { a, diagonalA } = kfacSizes(s);
  return diagonalA ? a : a * a;
}

/**
 * Floats of one training step besides the forward pass and its gradients:
 * the transposed inputs (for the weight gradient) and the weighted output
 * gradient.
 */
export function siteStepFloats(s: SiteShape, m: number): number {
  const rows = m * s.positions;
  // One-hot rows: no transposed inputs; the scatter-added table gradient.
  if (s.oneHot) return rows * s.units + s.fanIn * s.units;
  return rows * s.fanIn + rows * s.units;
}

/** Backend floats of one Gram computation over `m` samples (linear_site.ts, embedding_site.ts). */
export function gramFloats(s: SiteShape, m: number): number {
  const rows = m * s.positions;
  if (s.oneHot === "positions") {
    // E as (M, T D), its transpose, K and its scale.
    return 2 * rows * s.units + 2 * m * m;
  }
  if (s.oneHot === "tokens") {
    if (chooseEmbeddingGram(m, s.positions, s.fanIn, s.units) === "pairwise") {
      // E^T, E E^T, the equality mask and its cast, their product (bounded
      // by 5 (M T)^2: measured 4.3 at M = T = 64); the block sum and scale.
      return rows * s.units + 5 * rows * rows + 2 * m * m;
    }
    // The (sample, token) index, the per-sample tables, their reshape and
    // explicit transpose (3 copies, as measured), K and its scale.
    return 3 * rows + 3 * m * s.fanIn * s.units + 2 * m * m;
  }
  if (s.positions === 1) {
    // A A^T, + 1, E^T, E E^T, the two products.
    return 5 * m * m + s.units * m;
  }
  if (chooseGramMethod(m, s.positions, s.fanIn, s.units) === "pairwise") {
    // P P^T, + 1, E E^T, their product and its reshape: five (M T)^2 live at
    // the peak (measured at M = T = 64: bench --gram-memory); E^T; the block
    // sum and scale.
    return 5 * rows * rows + rows * s.units + 2 * m * m;
  }
  // Patches transposed per sample and the batched product's copies of both
  // operands, per-sample gradients, their reshape and explicit transpose (3
  // copies at the peak, as measured), bias gradients and theirs, then Kw,
  // Kb, their sum and its scale.
  return 2 * rows * s.fanIn + rows * s.units + 3 * m * s.fanIn * s.units +
    2 * m * s.units + 4 * m * m;
}

/** FLOPs of one Gram computation over `m` samples (linear_site.ts). */
export function gramFlops(s: SiteShape, m: number): number {
  const rows = m * s.positions;
  const k = s.fanIn;
  const u = s.units;
  if (s.oneHot === "positions") return 2 * m * m * s.positions * u;
  if (s.oneHot === "tokens") {
    return chooseEmbeddingGram(m, s.positions, k, u) === "pairwise"
      ? 2 * rows * rows * u + 3 * rows * rows
      : 2 * m * m * k * u + rows * u;
  }
  if (s.positions === 1) return 2 * m * m * (k + u) + 3 * m * m;
  if (chooseGramMethod(m, s.positions, k, u) === "pairwise") {
    return 2 * rows * rows * (k + u) + 3 * rows * rows;
  }
  return 2 * rows * k * u + 2 * m * m * (k * u + u) + 2 * m * m;
}

/** Backend floats of one K-FAC factor update (linear_site.ts, kfac_optimizer.ts). */
export function kfacStepFloats(s: SiteShape, m: number): number {
  const rows = m * s.positions;
  const { a: na, g: ng } = kfacSizes(s);
  const aa = kfacAFloats(s);
  // [a, 1] and its transpose, A and A / rows; E^T, G and G * M; the running
  // averages (2 products and a sum each); the stacked gradient and 2 products.
  return 2 * rows * na + 2 * aa + rows * ng + 2 * ng * ng +
    3 * (aa + ng * ng) + 3 * na * ng;
}

/** Tensors an activation allocates per output value (linear_site.ts `activate`). */
const ACTIVATION_TENSORS: Record<Activation, number> = {
  linear: 0,
  relu: 1,
  tanh: 1,
  sigmoid: 1,
  gelu: 5, // s / sqrt 2, erf, 1 +, 0.5 *, s *
};

/**
 * Floats of a linear site's outputs over `m` rows: the product, + bias, in
 * training the probe and + probe, and the activation unless linear.
 */
export function siteOutputFloats(
  s: SiteShape,
  activation: Activation,
  m: number,
  training: boolean,
): number {
  const perOutput = 2 + (training ? 2 : 0) + ACTIVATION_TENSORS[activation];
  return perOutput * m * s.output.reduce((a, b) => a * b, 1);
}

/**
 * FLOPs of a linear site over `m` rows plus `patchFlops` to cut its rows: the
 * weight gradient `A^T E` is the optimizer's, for every site; the gradient
 * to the inputs (and back through the patches) only exists downstream of
 * the first probe.
 */
export function siteFlops(
  s: SiteShape,
  m: number,
  inputGradient: boolean,
  patchFlops = 0,
): { forward: number; backward: number } {
  const rows = m * s.positions;
  const matmul = 2 * rows * s.fanIn * s.units;
  const elementwise = 3 * rows * s.units; // bias, probe, activation
  return {
    forward: matmul + patchFlops + elementwise,
    backward: matmul + elementwise + (inputGradient ? matmul + patchFlops : 0),
  };
}
