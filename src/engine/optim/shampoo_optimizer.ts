/**
 * Shampoo (Gupta, Koren, Singer 2018), one preconditioner pair per site. With
 * G the site's mean gradient as one matrix (`[dW; db]`, fan_in + 1 rows, the
 * matrix K-FAC's factors act on), it keeps `L = avg G G^T` and
 * `R = avg G^T G` and steps along `L^-1/4 G R^-1/4`.
 *
 * - Statistics: the first batch seeds them; afterwards
 *   `L <- beta L + (1 - beta) G G^T`, or plain sums `L <- L + G G^T` (the
 *   paper's Adagrad-like form) when `beta` is 1. They update every step.
 * - Roots `(L + eps I)^-1/4` are recomputed every `update_every` steps, in
 *   float64 on the host by a symmetric eigendecomposition (linalg.ts), the
 *   eigenvalues clamped at 0 before `eps` is added.
 * - Grafting (`graft: "sgd"`, the default): each site's direction is
 *   rescaled to the Frobenius norm of its mean gradient, so `lr` keeps SGD's
 *   meaning and only the direction is Shampoo's (as in Distributed Shampoo).
 * - Embedding tables have one-hot rows, so only the few rows of the batch's
 *   tokens have a gradient and `G G^T` would be vocab x vocab: L is kept
 *   diagonal there (its diagonal is each row's squared gradient norm, as in
 *   Adagrad), R in full.
 */
import * as tf from "@tensorflow/tfjs";
import { inverseRoot } from "../linalg.ts";
import { matMulT } from "../ops.ts";
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
}

/** One site's statistics and roots. */
interface Statistics {
  name: string;
  /** L (and its root) kept as a (1, rows) diagonal: one-hot rows (embeddings). */
  diagonalL: boolean;
  l: tf.Variable<tf.Rank.R2>;
  r: tf.Variable<tf.Rank.R2>;
  lRoot: tf.Variable<tf.Rank.R2>;
  rRoot: tf.Variable<tf.Rank.R2>;
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
      const lShape: [number, number] = diagonalA ? [1, rows] : [rows, rows];
      return tf.tidy(() => ({
        name: s.name,
        diagonalL: diagonalA,
        l: tf.variable(tf.zeros(lShape) as tf.Tensor2D, false),
        r: tf.variable(tf.zeros([units, units]) as tf.Tensor2D, false),
        lRoot: tf.variable(
          (diagonalA ? tf.ones(lShape) : tf.eye(rows)) as tf.Tensor2D,
          false,
        ),
        rRoot: tf.variable(tf.eye(units) as tf.Tensor2D, false),
      }));
    });
  }

  step(ctx: StepContext): void | Promise<void> {
    const grads = this.sites.map((s) =>
      stackGrad(
        s.math.meanGradient(ctx.captures[s.index], ctx.outGrads[s.index]),
      )
    );
    this.#accumulate(grads);
    const refreshed = this.#steps % this.config.updateEvery === 0
      ? this.#refreshRoots(ctx)
      : undefined;
    return afterRead(refreshed, () => {
      this.#steps += 1;
      this.apply(
        this.sites.map((s, i) =>
          unstackGrad(this.#direction(grads[i], this.#stats[i]), !!s.bias)
        ),
        ctx.plainGrads,
      );
    });
  }

  #accumulate(grads: tf.Tensor2D[]): void {
    const first = this.#steps === 0;
    const { beta } = this.config;
    grads.forEach((g, i) => {
      const st = this.#stats[i];
      const gg = st.diagonalL
        ? tf.reshape(tf.sum(tf.square(g), 1), [1, -1])
        : matMulT(g, g, false, true);
      const rr = matMulT(g, g, true, false);
      const blend = (old: tf.Tensor, batch: tf.Tensor) => {
        if (first) return batch;
        if (beta === 1) return tf.add(old, batch);
        return tf.add(tf.mul(old, beta), tf.mul(batch, 1 - beta));
      };
      st.l.assign(blend(st.l, gg) as tf.Tensor2D);
      st.r.assign(blend(st.r, rr) as tf.Tensor2D);
    });
  }

  /** `L^-1/4 G R^-1/4`, grafted onto the norm of G when configured. */
  #direction(g: tf.Tensor2D, st: Statistics): tf.Tensor2D {
    const left: tf.Tensor2D = st.diagonalL
      ? tf.mul(tf.reshape(st.lRoot, [-1, 1]), g)
      : tf.matMul(st.lRoot, g);
    const d: tf.Tensor2D = tf.matMul(left, st.rRoot);
    if (this.config.graft === "none") return d;
    // A zero gradient gives a zero direction; the floor only avoids 0 / 0.
    const scale = tf.div(tf.norm(g), tf.maximum(tf.norm(d), 1e-30));
    return tf.mul(d, scale);
  }

  #refreshRoots(ctx: StepContext): void | Promise<void> {
    const read = ctx.readHost(this.#stats.flatMap((st) => [st.l, st.r]));
    return afterRead(read, (host) => this.#setRoots(host));
  }

  #setRoots(host: Float32Array[]): void {
    const eps = this.config.epsilon;
    this.#stats.forEach((st, i) => {
      const l = host[2 * i];
      const r = host[2 * i + 1];
      if (!l.every(Number.isFinite) || !r.every(Number.isFinite)) {
        throw new EngineError(
          "diverged",
          `Shampoo statistics of ${st.name} became non-finite at global step ${
            this.#steps + 1
          }; lower lr`,
        );
      }
      const lRoot = st.diagonalL
        ? Float32Array.from(l, (v) => (Math.max(v, 0) + eps) ** -0.25)
        : rootOf(l, st.l.shape[0], eps);
      const rRoot = rootOf(r, st.r.shape[0], eps);
      this.counters.solves += 2;
      st.lRoot.assign(tf.tensor2d(lRoot, st.l.shape));
      st.rRoot.assign(tf.tensor2d(rRoot, st.r.shape));
    });
  }

  override stateVariables(): Map<string, tf.Variable> {
    const out = new Map(this.rule.slots());
    for (const st of this.#stats) {
      out.set(`${st.name}/shampoo_l`, st.l);
      out.set(`${st.name}/shampoo_r`, st.r);
      out.set(`${st.name}/shampoo_l_root`, st.lRoot);
      out.set(`${st.name}/shampoo_r_root`, st.rRoot);
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
      for (const v of [st.l, st.r, st.lRoot, st.rRoot]) v.dispose();
    }
  }
}

/** `(m + eps I)^-1/4` of a float32 host matrix, in float64, back as float32. */
function rootOf(m: Float32Array, n: number, eps: number): Float32Array {
  return Float32Array.from(inverseRoot(Float64Array.from(m), n, 4, eps));
}
