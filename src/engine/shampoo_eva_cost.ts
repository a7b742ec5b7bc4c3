/**
 * The cost-estimate terms of `shampoo` and `eva` (cost.ts sums them), each
 * mirroring the code named beside it. Pure arithmetic: loads no TF.js.
 *
 * A site's gradient is the stacked `[dW; db]`, `rows = fan_in (+ 1)` by
 * `units` (kfacSizes). Shampoo splits it into a grid of blocks of at most
 * `block_size` a side, each with its own L, R and roots; an embedding keeps
 * L as one diagonal and blocks only its columns.
 */
import type { SiteShape } from "./layers/kind.ts";
import { kfacSizes } from "./layers/linear_cost.ts";
import type { OptimizerSpec } from "./spec.ts";

const F32 = 4;
const F64 = 8;

/**
 * FLOPs of one float64 inverse root of an n x n factor (linalg.ts):
 * Householder tridiagonalisation (4/3 n^3) and its orthogonal factor
 * (4/3 n^3), implicit QL with about n^2 rotations of 6 n each (6 n^3,
 * counted on full-rank factors; rank-deficient ones deflate sooner), then
 * `U U^T` (n^3).
 */
const ROOT_FLOPS_PER_CUBE = 4 / 3 + 4 / 3 + 6 + 1;

/**
 * Sizes of Shampoo's blocks along a dimension of n: the fewest near-equal
 * parts of at most `blockSize` (shampoo_optimizer.ts splits by these).
 */
export function shampooBlocks(n: number, blockSize: number): number[] {
  const parts = Math.max(1, Math.ceil(n / blockSize));
  const small = Math.floor(n / parts);
  const larger = n - small * parts; // this many parts take one more
  return Array.from({ length: parts }, (_, i) => small + (i < larger ? 1 : 0));
}

/** One Shampoo block: its height, width, and floats of its L and R. */
interface ShampooBlock {
  h: number;
  w: number;
  l: number;
  r: number;
}

/**
 * Shampoo's blocks of a site's gradient (an embedding's diagonal L is not
 * blocked: its blocks have `l = 0`, and `diagonal` counts it).
 */
function shampooGrid(
  s: SiteShape,
  blockSize: number,
): { blocks: ShampooBlock[]; diagonal: number } {
  const { a: rows, g: units, diagonalA } = kfacSizes(s);
  const heights = diagonalA ? [rows] : shampooBlocks(rows, blockSize);
  const blocks = heights.flatMap((h) =>
    shampooBlocks(units, blockSize).map((w) => ({
      h,
      w,
      l: diagonalA ? 0 : h * h,
      r: w * w,
    }))
  );
  return { blocks, diagonal: diagonalA ? rows : 0 };
}

/** Floats of Shampoo's L (blocks and any diagonal) and R over a site's grid. */
function shampooFactors(
  grid: { blocks: ShampooBlock[]; diagonal: number },
): { l: number; r: number } {
  let l = grid.diagonal;
  let r = 0;
  for (const b of grid.blocks) {
    l += b.l;
    r += b.r;
  }
  return { l, r };
}

/** Floats the optimizer keeps for the whole run besides slots (checkpointed too). */
export function preconditionerStateFloats(
  optimizer: OptimizerSpec,
  sites: readonly SiteShape[],
): number {
  let floats = 0;
  for (const s of sites) {
    if (optimizer.name === "shampoo") {
      const { l, r } = shampooFactors(shampooGrid(s, optimizer.block_size));
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
    const { a: rows, g: units } = kfacSizes(s);
    const grad = rows * units;
    if (optimizer.name === "shampoo") {
      const grid = shampooGrid(s, optimizer.block_size);
      const { l, r } = shampooFactors(grid);
      // Split into blocks: row strips, then their blocks; reassembled the
      // same way (none of these four when the site is one block).
      const copies = grid.blocks.length > 1 ? 4 * grad : 0;
      // Stacked gradient; each block's G G^T and G^T G with their
      // transposes; the blends (2 products and a sum each); L^-1/4 G, its
      // product with R^-1/4, the grafted copy.
      step += grad + copies + 2 * grad + l + r + 3 * (l + r) + 3 * grad;
      // At a refresh: the concatenated statistics and their host copy, and
      // every uploaded root (alive until the step's tidy ends).
      host += 3 * (l + r) * F32;
      // One full factor at a time: its float64 input, the eigensolver's
      // working matrix and eigenvectors, the scaled vectors and the root,
      // its float32 copy.
      for (const b of grid.blocks) {
        largest = Math.max(largest, Math.max(b.l, b.r) * (5 * F64 + F32));
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
    const { a: rows, g: units } = kfacSizes(s);
    const grad = rows * units;
    if (optimizer.name === "shampoo") {
      const grid = shampooGrid(s, optimizer.block_size);
      const { l, r } = shampooFactors(grid);
      // Per block: G G^T and L^-1/4 G (for a diagonal L: the squares, their
      // row sums and the scaling), G^T G and the product with R^-1/4; then
      // the blends, and the graft over the whole site.
      let roots = grid.diagonal; // a diagonal's root is elementwise
      for (const { h, w } of grid.blocks) {
        const block = h * w;
        flops += grid.diagonal ? 3 * block : 4 * h * block;
        flops += 4 * w * block;
        if (!grid.diagonal) roots += ROOT_FLOPS_PER_CUBE * h ** 3;
        roots += ROOT_FLOPS_PER_CUBE * w ** 3;
      }
      flops += 3 * (l + r);
      flops += 6 * grad;
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
