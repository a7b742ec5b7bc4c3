/**
 * The cost-estimate terms of `shampoo` and `eva` (cost.ts sums them), each
 * mirroring the code named beside it. Pure arithmetic: loads no TF.js.
 *
 * A site's gradient is the stacked `[dW; db]`, `rows = fan_in (+ 1)` by
 * `units` (kfacSizes); an embedding keeps Shampoo's L as its diagonal.
 */
import type { SiteShape } from "./layers/kind.ts";
import { kfacSizes } from "./layers/linear_cost.ts";
import type { OptimizerSpec } from "./spec.ts";

const F32 = 4;
const F64 = 8;

/**
 * FLOPs of one float64 inverse root of an n x n factor (linalg.ts): about
 * 10 Jacobi sweeps of n^2 / 2 rotations at 12 n each, then `U U^T`.
 */
const ROOT_FLOPS_PER_CUBE = 10 * 6 + 1;

/** Floats of Shampoo's L (a diagonal for one-hot rows) and R. */
function shampooFactors(s: SiteShape): { l: number; r: number } {
  const { a: rows, g: units, diagonalA } = kfacSizes(s);
  return { l: diagonalA ? rows : rows * rows, r: units * units };
}

/** Floats the optimizer keeps for the whole run besides slots (checkpointed too). */
export function preconditionerStateFloats(
  optimizer: OptimizerSpec,
  sites: readonly SiteShape[],
): number {
  let floats = 0;
  for (const s of sites) {
    if (optimizer.name === "shampoo") {
      const { l, r } = shampooFactors(s);
      floats += 2 * (l + r); // L, R and their roots (shampoo_optimizer.ts)
    } else if (optimizer.name === "eva") {
      const { a, g } = kfacSizes(s);
      floats += a + g; // the two Kronecker vectors (eva_optimizer.ts)
    }
  }
  return floats;
}

/** Per-step curvature bytes: backend temporaries and, for Shampoo, a root refresh on the host. */
export function preconditionerCurvatureBytes(
  optimizer: OptimizerSpec,
  sites: readonly SiteShape[],
  m: number,
): number {
  let step = 0;
  let host = 0;
  let largest = 0;
  for (const s of sites) {
    const { a: rows, g: units, diagonalA } = kfacSizes(s);
    const grad = rows * units;
    if (optimizer.name === "shampoo") {
      const { l, r } = shampooFactors(s);
      // Stacked gradient; G G^T and G^T G with their transposes; the blends
      // (2 products and a sum each); L^-1/4 G, its product with R^-1/4, the
      // grafted copy.
      step += grad + 2 * grad + l + r + 3 * (l + r) + 3 * grad;
      // At a refresh: the concatenated statistics and their host copy, and
      // every uploaded root (alive until the step's tidy ends).
      host += 3 * (l + r) * F32;
      // One full factor at a time: its float64 input, Jacobi's matrix and
      // eigenvectors, the scaled vectors and the root, its float32 copy.
      for (const n2 of [diagonalA ? 0 : l, r]) {
        largest = Math.max(largest, n2 * (5 * F64 + F32));
      }
    } else if (optimizer.name === "eva") {
      // This batch's vectors (the mean's inputs, or the one-hot counts), the
      // stacked gradient, the direction's outer product and its three
      // elementwise steps (twice that for damped factors), the KL products.
      const batchRows = m * s.positions;
      step += (s.oneHot ? batchRows + rows : rows) + 3 * units;
      step += grad + 8 * grad + 2 * grad;
    }
  }
  return step * F32 + host + largest;
}

/** Per-step curvature FLOPs; Shampoo's root refreshes amortised over `update_every`. */
export function preconditionerCurvatureFlops(
  optimizer: OptimizerSpec,
  sites: readonly SiteShape[],
  m: number,
): number {
  let flops = 0;
  for (const s of sites) {
    const { a: rows, g: units, diagonalA } = kfacSizes(s);
    const grad = rows * units;
    if (optimizer.name === "shampoo") {
      const { l, r } = shampooFactors(s);
      // G G^T (or its diagonal) and G^T G; the blends; L^-1/4 G R^-1/4; the graft.
      flops += (diagonalA ? 2 * grad : 2 * rows * grad) + 2 * units * grad;
      flops += 3 * (l + r);
      flops += (diagonalA ? grad : 2 * rows * grad) + 2 * units * grad;
      flops += 6 * grad;
      const roots = (diagonalA ? rows : ROOT_FLOPS_PER_CUBE * rows ** 3) +
        ROOT_FLOPS_PER_CUBE * units ** 3;
      flops += roots / optimizer.update_every;
    } else if (optimizer.name === "eva") {
      // The batch means over M*T rows, the blends, then a^T G g, the outer
      // product and three elementwise steps (doubled for damped factors),
      // and the KL inner product and scaling.
      flops += 2 * m * s.positions * (s.oneHot ? 1 : s.fanIn + units);
      flops += 3 * (rows + units);
      flops += 2 * grad + 2 * units + 4 * grad;
      if (optimizer.damping_form === "factors") flops += 6 * grad;
      flops += 3 * grad;
    }
  }
  return flops;
}
