/**
 * K-FAC: per layer, running averages of `A = E[a a^T]` and `G = E[e e^T]`
 * (decay `factor_decay` per update, updated every `factor_every` steps),
 * factored Tikhonov damping, and inverses refreshed every `inv_every` steps.
 * The direction is `A^-1 [dW; db] G^-1`, in whichever product order costs
 * less for the site (SiteMath.kfacDirection).
 *
 * Amortising both is what well-engineered K-FAC implementations do
 * (kfac-pytorch's factor and inverse update steps): on a 784-input dense
 * layer at batch 128, the `A` update alone costs about as much as the SGD
 * step's forward and backward together.
 *
 * Inverses are computed by Cholesky in float64 on the host: factors are at
 * most a few hundred wide here, and float64 Cholesky is exact where
 * Newton-Schulz in float32 would need many matmuls and a convergence check.
 * Embedding tables have one-hot rows, so their A is diagonal: it is kept,
 * averaged and inverted as its (1, n) diagonal, whatever the vocabulary.
 */
import * as tf from "@tensorflow/tfjs";
import {
  choleskyInverse,
  choleskyWithJitter,
  NotPositiveDefinite,
} from "../linalg.ts";
import { EngineError } from "../types.ts";
import type { WeightSite } from "../layers/mod.ts";
import { afterRead, BaseOptimizer, type StepContext } from "./optimizer.ts";
import type { UpdateRule } from "./update_rules.ts";

/** One site's K-FAC state. */
interface Factors {
  name: string;
  /** A (and A^-1) kept as a (1, n) diagonal: one-hot rows (embeddings). */
  diagonalA: boolean;
  a: tf.Variable<tf.Rank.R2>;
  g: tf.Variable<tf.Rank.R2>;
  aInv: tf.Variable<tf.Rank.R2>;
  gInv: tf.Variable<tf.Rank.R2>;
}

/** Damped inverse of `m + shift I`, in float64, returned as float32 for upload. */
function dampedInverse(
  m: Float32Array,
  n: number,
  shift: number,
): { inv: Float32Array; retries: number } {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      a[i * n + j] = 0.5 * (m[i * n + j] + m[j * n + i]);
    }
    a[i * n + i] += shift;
  }
  const { factor, retries } = choleskyWithJitter(a, n);
  return { inv: Float32Array.from(choleskyInverse(factor, n)), retries };
}

/** Damped inverse of a diagonal, entry by entry in float64. */
function dampedDiagonalInverse(d: Float32Array, shift: number): Float32Array {
  return Float32Array.from(d, (v) => 1 / (v + shift));
}

function trace(m: Float32Array, n: number): number {
  let t = 0;
  for (let i = 0; i < n; i++) t += m[i * n + i];
  return t;
}

/** The K-FAC optimizer. */
export class KfacOptimizer extends BaseOptimizer {
  readonly #factors: Factors[];
  #steps = 0;

  constructor(
    sites: WeightSite[],
    rule: UpdateRule,
    readonly damping: number,
    readonly decay: number,
    readonly invEvery: number,
    readonly factorEvery = 1,
  ) {
    super(sites, rule);
    this.#factors = sites.map((s) => {
      const { a: na, g: ng, diagonalA } = s.math.kfacSizes(s);
      const aShape: [number, number] = diagonalA ? [1, na] : [na, na];
      return tf.tidy(() => ({
        name: s.name,
        diagonalA,
        a: tf.variable(tf.zeros(aShape) as tf.Tensor2D, false),
        g: tf.variable(tf.zeros([ng, ng]) as tf.Tensor2D, false),
        aInv: tf.variable(
          (diagonalA ? tf.ones(aShape) : tf.eye(na)) as tf.Tensor2D,
          false,
        ),
        gInv: tf.variable(tf.eye(ng) as tf.Tensor2D, false),
      }));
    });
  }

  step(ctx: StepContext): void | Promise<void> {
    if (this.#steps % this.factorEvery === 0) {
      // The first batch seeds the averages; afterwards they decay.
      const w = this.#steps === 0 ? 1 : 1 - this.decay;
      this.sites.forEach((s, i) => {
        const f = this.#factors[i];
        const batch = s.math.kfacFactors(
          ctx.captures[s.index],
          ctx.outGrads[s.index],
          ctx.m,
        );
        f.a.assign(tf.add(tf.mul(f.a, 1 - w), tf.mul(batch.a, w)));
        f.g.assign(tf.add(tf.mul(f.g, 1 - w), tf.mul(batch.g, w)));
      });
    }
    const refreshed = this.#steps % this.invEvery === 0
      ? this.#refreshInverses(ctx)
      : undefined;
    return afterRead(refreshed, () => {
      this.#steps += 1;
      this.apply(
        this.sites.map((s, i) => {
          const f = this.#factors[i];
          const cap = ctx.captures[s.index];
          const e = ctx.outGrads[s.index];
          return s.math.kfacDirection?.(cap, e, f.aInv, f.gInv) ??
            s.math.kfacPrecondition(
              s.math.meanGradient(cap, e),
              f.aInv,
              f.gInv,
            );
        }),
        ctx.plainGrads,
      );
    });
  }

  #refreshInverses(ctx: StepContext): void | Promise<void> {
    const read = ctx.readHost(this.#factors.flatMap((f) => [f.a, f.g]));
    return afterRead(read, (host) => this.#invert(host));
  }

  #invert(host: Float32Array[]): void {
    this.#factors.forEach((f, i) => {
      const na = f.a.shape[1];
      const ng = f.g.shape[0];
      const a = host[2 * i];
      const g = host[2 * i + 1];
      if (!a.every(Number.isFinite) || !g.every(Number.isFinite)) {
        // Non-finite factors have no inverse: report the divergence, not a
        // Cholesky failure.
        throw new EngineError(
          "diverged",
          `K-FAC factors of ${f.name} became non-finite at step ${
            this.#steps + 1
          }; lower lr or raise damping`,
        );
      }
      // Factored Tikhonov: split sqrt(damping) between the factors by their average eigenvalue.
      const ta = (f.diagonalA ? a.reduce((x, y) => x + y, 0) : trace(a, na)) /
        na;
      const tg = trace(g, ng) / ng;
      const pi = ta > 0 && tg > 0 ? Math.sqrt(ta / tg) : 1;
      const root = Math.sqrt(this.damping);
      let ai: { inv: Float32Array; retries: number };
      let gi: { inv: Float32Array; retries: number };
      try {
        ai = f.diagonalA
          ? { inv: dampedDiagonalInverse(a, pi * root), retries: 0 }
          : dampedInverse(a, na, pi * root);
        gi = dampedInverse(g, ng, root / pi);
      } catch (err) {
        if (!(err instanceof NotPositiveDefinite)) throw err;
        throw new EngineError(
          "diverged",
          `K-FAC factor of ${f.name} is not positive definite even with jitter (${err.message}); lower lr or raise damping`,
        );
      }
      this.counters.solves += 2;
      const retries = ai.retries + gi.retries;
      if (retries > 0) {
        this.counters.jitter_retries += retries;
        this.events.push({
          type: "log",
          data: {
            level: "warn",
            message: "K-FAC factor needed jitter",
            layer: i,
            retries,
          },
        });
      }
      f.aInv.assign(tf.tensor2d(ai.inv, f.a.shape));
      f.gInv.assign(tf.tensor2d(gi.inv, [ng, ng]));
    });
  }

  override stateVariables(): Map<string, tf.Variable> {
    const out = new Map(this.rule.slots());
    for (const f of this.#factors) {
      out.set(`${f.name}/kfac_a`, f.a);
      out.set(`${f.name}/kfac_g`, f.g);
      out.set(`${f.name}/kfac_a_inv`, f.aInv);
      out.set(`${f.name}/kfac_g_inv`, f.gInv);
    }
    return out;
  }

  override scalars(): Record<string, number> {
    return { ...this.rule.scalars(), "kfac/step": this.#steps };
  }

  override loadScalars(s: Record<string, number>): void {
    this.rule.loadScalars(s);
    this.#steps = s["kfac/step"] ?? 0;
  }

  override dispose(): void {
    this.rule.dispose();
    for (const f of this.#factors) {
      for (const v of [f.a, f.g, f.aInv, f.gInv]) v.dispose();
    }
  }
}
