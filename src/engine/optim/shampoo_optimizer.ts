/**
 * Shampoo (Gupta, Koren, Singer 2018), blocked as in Distributed Shampoo
 * (Anil et al. 2020). With G the site's mean gradient as one matrix
 * (`[dW; db]`, fan_in + 1 rows, the matrix K-FAC's factors act on), split
 * into a grid of blocks G_b of at most `block_size` rows and columns, each
 * block keeps `L_b = avg G_b G_b^T` and `R_b = avg G_b^T G_b` and the
 * direction is assembled from `L_b^-1/4 G_b R_b^-1/4`. Roots cost O(n^3)
 * in the factor width, so blocks bound them; a site that fits one block is
 * plain Shampoo.
 *
 * - Blocks: the fewest near-equal parts of at most `block_size` per
 *   dimension: 257 rows at 128 give 86 + 86 + 85, not 128 + 128 and a
 *   lone bias row preconditioned on its own.
 * - Statistics: the first batch seeds them; afterwards
 *   `L <- beta L + (1 - beta) G G^T`, or plain sums `L <- L + G G^T` (the
 *   paper's Adagrad-like form) when `beta` is 1. They update every step.
 * - Roots `(L + eps I)^-1/4` are recomputed every `update_every` steps, in
 *   float64 on the host by a symmetric eigendecomposition (linalg.ts), the
 *   eigenvalues clamped at 0 before `eps` is added.
 * - Grafting (`graft: "sgd"`, the default): each site's whole direction is
 *   rescaled to the Frobenius norm of its mean gradient, so `lr` keeps SGD's
 *   meaning and only the direction is Shampoo's (as in Distributed Shampoo).
 * - Embedding tables have one-hot rows, so only the few rows of the batch's
 *   tokens have a gradient and `G G^T` would be vocab x vocab: L is kept
 *   diagonal there (its diagonal is each row's squared gradient norm, as in
 *   Adagrad), R in full per column block. A diagonal's row blocks are just
 *   its slices, so L stays one (1, rows) vector rather than vocab / block
 *   tensors per step.
 */
import * as tf from "@tensorflow/tfjs";
import { inverseRoot } from "../linalg.ts";
import { matMulT } from "../ops.ts";
import { shampooBlocks } from "../shampoo_eva_cost.ts";
import type { WeightSite } from "../layers/mod.ts";
import { EngineError } from "../types.ts";
import { afterRead, BaseOptimizer, type StepContext } from "./optimizer.ts";
import type { UpdateRule } from "./update_rules.ts";
import { stackGrad, unstackGrad } from "./_stacked.ts";

/** Shampoo's hyperparameters besides the update rule's. */
export interface ShampooConfig {
  epsilon: number;
  updateEvery: number;
  beta: number;
  graft: "sgd" | "none";
  /** Largest block side; a site's gradient is split into a grid of blocks. */
  blockSize: number;
}

/** One block's statistics and roots. */
interface Block {
  /**
   * Suffix of its state names, `/b{i}_{j}`; "" for a site's only block, so
   * checkpoints written before blocking still resume.
   */
  key: string;
  /** `L_b` and its root; absent under a diagonal L. */
  l?: tf.Variable<tf.Rank.R2>;
  lRoot?: tf.Variable<tf.Rank.R2>;
  r: tf.Variable<tf.Rank.R2>;
  rRoot: tf.Variable<tf.Rank.R2>;
}

/** One site's blocks. */
interface Statistics {
  name: string;
  /** Block heights and widths; blocks are row-major over them. */
  rowSizes: number[];
  colSizes: number[];
  blocks: Block[];
  /** L and its root as one (1, rows) diagonal (embeddings: one-hot rows). */
  diagonal?: { l: tf.Variable<tf.Rank.R2>; lRoot: tf.Variable<tf.Rank.R2> };
}

/** The Shampoo optimizer. */
export class ShampooOptimizer extends BaseOptimizer {
  readonly #stats: Statistics[];
  #steps = 0;

  constructor(
    sites: WeightSite[],
    rule: UpdateRule,
    readonly config: ShampooConfig,
  ) {
    super(sites, rule);
    this.#stats = sites.map((s) => {
      const { a: rows, g: units, diagonalA } = s.math.kfacSizes(s);
      // A diagonal L needs no row blocks; only R's width is bounded.
      const rowSizes = diagonalA
        ? [rows]
        : shampooBlocks(rows, config.blockSize);
      const colSizes = shampooBlocks(units, config.blockSize);
      const single = rowSizes.length === 1 && colSizes.length === 1;
      const variable = (make: () => tf.Tensor) =>
        tf.tidy(() => tf.variable(make() as tf.Tensor2D, false));
      const zeros = (n: number, m: number) => variable(() => tf.zeros([n, m]));
      const eye = (n: number) => variable(() => tf.eye(n));
      return {
        name: s.name,
        rowSizes,
        colSizes,
        blocks: rowSizes.flatMap((h, i) =>
          colSizes.map((w, j): Block => ({
            key: single ? "" : `/b${i}_${j}`,
            ...(diagonalA ? {} : { l: zeros(h, h), lRoot: eye(h) }),
            r: zeros(w, w),
            rRoot: eye(w),
          }))
        ),
        ...(diagonalA
          ? {
            diagonal: {
              l: zeros(1, rows),
              lRoot: variable(() => tf.ones([1, rows])),
            },
          }
          : {}),
      };
    });
  }

  step(ctx: StepContext): void | Promise<void> {
    const grads = this.sites.map((s) =>
      stackGrad(
        s.math.meanGradient(ctx.captures[s.index], ctx.outGrads[s.index]),
      )
    );
    const parts = grads.map((g, i) => splitBlocks(g, this.#stats[i]));
    this.#accumulate(grads, parts);
    const refreshed = this.#steps % this.config.updateEvery === 0
      ? this.#refreshRoots(ctx)
      : undefined;
    return afterRead(refreshed, () => {
      this.#steps += 1;
      this.apply(
        this.sites.map((s, i) =>
          unstackGrad(
            this.#direction(grads[i], parts[i], this.#stats[i]),
            !!s.bias,
          )
        ),
        ctx.plainGrads,
      );
    });
  }

  #accumulate(grads: tf.Tensor2D[], parts: tf.Tensor2D[][]): void {
    const first = this.#steps === 0;
    const { beta } = this.config;
    const blend = (v: tf.Variable<tf.Rank.R2>, batch: tf.Tensor) => {
      if (first) v.assign(batch as tf.Tensor2D);
      else if (beta === 1) v.assign(tf.add(v, batch));
      else v.assign(tf.add(tf.mul(v, beta), tf.mul(batch, 1 - beta)));
    };
    grads.forEach((g, i) => {
      const st = this.#stats[i];
      if (st.diagonal) {
        blend(st.diagonal.l, tf.reshape(tf.sum(tf.square(g), 1), [1, -1]));
      }
      st.blocks.forEach((b, k) => {
        const gb = parts[i][k];
        if (b.l) blend(b.l, matMulT(gb, gb, false, true));
        blend(b.r, matMulT(gb, gb, true, false));
      });
    });
  }

  /** Blockwise `L^-1/4 G R^-1/4`, grafted onto the norm of the whole G when configured. */
  #direction(
    g: tf.Tensor2D,
    parts: tf.Tensor2D[],
    st: Statistics,
  ): tf.Tensor2D {
    const column = st.diagonal && tf.reshape(st.diagonal.lRoot, [-1, 1]);
    const d = assemble(
      st.blocks.map((b, k) => {
        const left: tf.Tensor2D = column
          ? tf.mul(column, parts[k])
          : tf.matMul(b.lRoot!, parts[k]);
        return tf.matMul(left, b.rRoot);
      }),
      st.rowSizes.length,
    );
    if (this.config.graft === "none") return d;
    // A zero gradient gives a zero direction; the floor only avoids 0 / 0.
    const scale = tf.div(tf.norm(g), tf.maximum(tf.norm(d), 1e-30));
    return tf.mul(d, scale);
  }

  /** The statistics in the order `#setRoots` consumes them. */
  #statistics(): tf.Variable[] {
    return this.#stats.flatMap((st) => [
      ...(st.diagonal ? [st.diagonal.l] : []),
      ...st.blocks.flatMap((b) => b.l ? [b.l, b.r] : [b.r]),
    ]);
  }

  #refreshRoots(ctx: StepContext): void | Promise<void> {
    const read = ctx.readHost(this.#statistics());
    return afterRead(read, (host) => this.#setRoots(host));
  }

  #setRoots(host: Float32Array[]): void {
    const eps = this.config.epsilon;
    let next = 0;
    for (const st of this.#stats) {
      const count = (st.diagonal ? 1 : 0) +
        st.blocks.reduce((n, b) => n + (b.l ? 2 : 1), 0);
      const mine = host.slice(next, next + count);
      next += count;
      if (!mine.every((a) => a.every(Number.isFinite))) {
        throw new EngineError(
          "diverged",
          `Shampoo statistics of ${st.name} became non-finite at global step ${
            this.#steps + 1
          }; lower lr`,
        );
      }
      let k = 0;
      if (st.diagonal) {
        const { lRoot } = st.diagonal;
        const root = Float32Array.from(
          mine[k++],
          (v) => (Math.max(v, 0) + eps) ** -0.25,
        );
        lRoot.assign(tf.tensor2d(root, lRoot.shape));
      }
      for (const b of st.blocks) {
        for (const [root, stat] of [[b.lRoot, b.l], [b.rRoot, b.r]]) {
          if (!root || !stat) continue;
          const n = stat.shape[0];
          root.assign(tf.tensor2d(rootOf(mine[k++], n, eps), [n, n]));
        }
      }
      this.counters.solves += count;
    }
  }

  override stateVariables(): Map<string, tf.Variable> {
    const out = new Map(this.rule.slots());
    for (const st of this.#stats) {
      const prefix = `${st.name}/shampoo`;
      if (st.diagonal) {
        out.set(`${prefix}_l`, st.diagonal.l);
        out.set(`${prefix}_l_root`, st.diagonal.lRoot);
      }
      for (const b of st.blocks) {
        if (b.l) out.set(`${prefix}_l${b.key}`, b.l);
        out.set(`${prefix}_r${b.key}`, b.r);
        if (b.lRoot) out.set(`${prefix}_l_root${b.key}`, b.lRoot);
        out.set(`${prefix}_r_root${b.key}`, b.rRoot);
      }
    }
    return out;
  }

  override scalars(): Record<string, number> {
    return { ...this.rule.scalars(), "shampoo/step": this.#steps };
  }

  override loadScalars(s: Record<string, number>): void {
    this.rule.loadScalars(s);
    this.#steps = s["shampoo/step"] ?? 0;
  }

  override dispose(): void {
    this.rule.dispose();
    for (const st of this.#stats) {
      if (st.diagonal) {
        st.diagonal.l.dispose();
        st.diagonal.lRoot.dispose();
      }
      for (const b of st.blocks) {
        for (const v of [b.l, b.r, b.lRoot, b.rRoot]) v?.dispose();
      }
    }
  }
}

/** G's blocks, row-major; G itself when it is one block (no copies). */
function splitBlocks(g: tf.Tensor2D, st: Statistics): tf.Tensor2D[] {
  if (st.blocks.length === 1) return [g];
  const rows = st.rowSizes.length === 1 ? [g] : tf.split(g, st.rowSizes, 0);
  return rows.flatMap((r) =>
    st.colSizes.length === 1 ? [r] : tf.split(r, st.colSizes, 1)
  ) as tf.Tensor2D[];
}

/** Reassembles row-major blocks of `rowBlocks` rows into one matrix. */
function assemble(blocks: tf.Tensor2D[], rowBlocks: number): tf.Tensor2D {
  if (blocks.length === 1) return blocks[0];
  const perRow = blocks.length / rowBlocks;
  const rows = Array.from({ length: rowBlocks }, (_, i) => {
    const row = blocks.slice(i * perRow, (i + 1) * perRow);
    return row.length === 1 ? row[0] : tf.concat(row, 1);
  });
  return rows.length === 1 ? rows[0] : tf.concat(rows, 0);
}

/** `(m + eps I)^-1/4` of a float32 host matrix, in float64, back as float32. */
function rootOf(m: Float32Array, n: number, eps: number): Float32Array {
  return Float32Array.from(inverseRoot(Float64Array.from(m), n, 4, eps));
}
