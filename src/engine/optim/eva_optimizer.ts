/**
 * Eva (Zhang, Shi, Li; ICLR 2023): K-FAC with Kronecker *vectors* in place of
 * the factors. Per site it keeps running averages of the batch-mean input
 * `abar` (the bias's 1 appended) and the batch-mean output gradient `ebar`,
 * both averaged over samples and positions (Eva's convention for conv and
 * sequence layers); `ebar` is per sample, `M e` for the mean-loss `e`. For
 * an embedding `abar` is the token (or position) frequencies. The first
 * batch seeds the averages, then
 * `v <- factor_decay v + (1 - factor_decay) v_batch`, the K-FAC optimizer's
 * convention (the reference code weights the new batch by `factor_decay`).
 *
 * The direction acts on G = `[dW; db]` without forming any matrix, by
 * Sherman-Morrison: `(v v^T + gamma I)^-1 x = (x - v (v.x) / (gamma + v.v)) / gamma`.
 * - `damping_form: "kronecker"` (the paper's, the default) damps the
 *   rank-one Kronecker product as a whole, with `k = abar kron ebar`:
 *   `(k k^T + gamma I)^-1 vec(G)
 *      = (G - abar ebar^T (abar^T G ebar) / (gamma + |abar|^2 |ebar|^2)) / gamma`;
 * - `damping_form: "factors"` damps each factor, as K-FAC does:
 *   `(abar abar^T + gamma I)^-1 G (ebar ebar^T + gamma I)^-1`. Its scale
 *   is `1 / gamma^2`, so it wants a larger damping (e.g. 0.3).
 *
 * KL clipping, as in the paper: all directions are scaled by
 * `nu = min(1, sqrt(kl_clip / (lr^2 sum_sites <P, G>)))`, left at 1 when
 * that sum is not positive; `kl_clip: 0` turns it off. The reference
 * code's other mode (rescaling to the gradient norm) is not offered.
 *
 * Everything stays in TF.js tensors: no host round-trip.
 */
import * as tf from "@tensorflow/tfjs";
import type { SiteCapture, WeightSite } from "../layers/mod.ts";
import { BaseOptimizer, type StepContext } from "./optimizer.ts";
import type { UpdateRule } from "./update_rules.ts";
import { stackGrad, unstackGrad } from "./_stacked.ts";

/** Eva's hyperparameters besides the update rule's. */
export interface EvaConfig {
  damping: number;
  factorDecay: number;
  klClip: number;
  dampingForm: "kronecker" | "factors";
}

/** One site's Kronecker vectors, as (1, n) rows. */
interface Vectors {
  name: string;
  a: tf.Variable<tf.Rank.R2>;
  g: tf.Variable<tf.Rank.R2>;
}

/** This batch's `abar` (bias 1 appended when the site has a bias) as a (1, n) row. */
function batchInputVector(
  site: WeightSite,
  cap: SiteCapture,
): tf.Tensor2D {
  const rows = cap.inputs.shape[0];
  if (site.oneHot) {
    // One-hot rows: the mean is the frequency of each id.
    const counts = tf.scatterND(cap.inputs, tf.ones([rows]), [site.fanIn]);
    return tf.reshape(tf.div(counts, rows), [1, -1]);
  }
  const mean = tf.mean(cap.inputs, 0, true) as tf.Tensor2D;
  return site.bias ? tf.concat([mean, tf.ones([1, 1])], 1) : mean;
}

/** This batch's `ebar`: the per-sample output gradient `M e`, averaged over all M*T rows. */
function batchOutputVector(e: tf.Tensor2D, m: number): tf.Tensor2D {
  return tf.mul(tf.sum(e, 0, true), m / e.shape[0]);
}

/** `(v v^T + gamma I)^-1 x` for a (1, n) row `v`, acting on x's rows (`side` "left") or columns ("right"). */
function shermanMorrison(
  v: tf.Tensor2D,
  x: tf.Tensor2D,
  gamma: number,
  side: "left" | "right",
): tf.Tensor2D {
  const vv = tf.sum(tf.square(v));
  const coef = tf.div(1, tf.add(vv, gamma));
  // left: v^T (v x) with v.x a (1, cols) row; right: (x v^T) v, a (rows, 1) column.
  const projected = side === "left"
    ? tf.matMul(tf.transpose(v), tf.matMul(v, x))
    : tf.matMul(tf.matMul(x, tf.transpose(v)), v);
  return tf.div(tf.sub(x, tf.mul(projected, coef)), gamma);
}

/** The Eva direction for stacked gradient `grad` and vectors `a` (1, rows), `g` (1, cols). */
function evaDirection(
  grad: tf.Tensor2D,
  a: tf.Tensor2D,
  g: tf.Tensor2D,
  gamma: number,
  form: "kronecker" | "factors",
): tf.Tensor2D {
  if (form === "factors") {
    return shermanMorrison(
      g,
      shermanMorrison(a, grad, gamma, "left"),
      gamma,
      "right",
    );
  }
  const aGe = tf.matMul(tf.matMul(a, grad), tf.transpose(g)); // (1, 1)
  const norms = tf.mul(tf.sum(tf.square(a)), tf.sum(tf.square(g)));
  const outer = tf.matMul(tf.transpose(a), g);
  const coef = tf.div(aGe, tf.add(norms, gamma));
  return tf.div(tf.sub(grad, tf.mul(outer, coef)), gamma);
}

/** The Eva optimizer. */
export class EvaOptimizer extends BaseOptimizer {
  readonly #vectors: Vectors[];
  #steps = 0;

  constructor(
    sites: WeightSite[],
    rule: UpdateRule,
    readonly config: EvaConfig,
  ) {
    super(sites, rule);
    this.#vectors = sites.map((s) => {
      const { a, g } = s.math.kfacSizes(s);
      return tf.tidy(() => ({
        name: s.name,
        a: tf.variable(tf.zeros([1, a]) as tf.Tensor2D, false),
        g: tf.variable(tf.zeros([1, g]) as tf.Tensor2D, false),
      }));
    });
  }

  step(ctx: StepContext): void {
    const w = this.#steps === 0 ? 1 : 1 - this.config.factorDecay;
    const blend = (v: tf.Variable<tf.Rank.R2>, batch: tf.Tensor2D) =>
      v.assign(w === 1 ? batch : tf.add(tf.mul(v, 1 - w), tf.mul(batch, w)));
    this.sites.forEach((s, i) => {
      const vec = this.#vectors[i];
      blend(vec.a, batchInputVector(s, ctx.captures[s.index]));
      blend(vec.g, batchOutputVector(ctx.outGrads[s.index], ctx.m));
    });
    this.#steps += 1;
    const grads = this.sites.map((s) =>
      stackGrad(
        s.math.meanGradient(ctx.captures[s.index], ctx.outGrads[s.index]),
      )
    );
    let directions = grads.map((g, i) =>
      evaDirection(
        g,
        this.#vectors[i].a,
        this.#vectors[i].g,
        this.config.damping,
        this.config.dampingForm,
      )
    );
    if (this.config.klClip > 0 && directions.length > 0) {
      const nu = this.#klScale(directions, grads);
      directions = directions.map((d) => tf.mul(d, nu));
    }
    this.apply(
      directions.map((d, i) => unstackGrad(d, !!this.sites[i].bias)),
      ctx.plainGrads,
    );
  }

  /** `min(1, sqrt(kl_clip / (lr^2 sum <P, G>)))`, or 1 when the sum is not positive. */
  #klScale(directions: tf.Tensor2D[], grads: tf.Tensor2D[]): tf.Scalar {
    const inner = tf.addN(
      directions.map((d, i) => tf.sum(tf.mul(d, grads[i]))),
    );
    const vg = tf.mul(inner, this.rule.lr ** 2);
    const clipped = tf.minimum(
      1,
      tf.sqrt(tf.div(this.config.klClip, tf.maximum(vg, 1e-30))),
    );
    return tf.where(tf.greater(vg, 0), clipped, 1) as tf.Scalar;
  }

  override stateVariables(): Map<string, tf.Variable> {
    const out = new Map(this.rule.slots());
    for (const v of this.#vectors) {
      out.set(`${v.name}/eva_a`, v.a);
      out.set(`${v.name}/eva_g`, v.g);
    }
    return out;
  }

  override scalars(): Record<string, number> {
    return { ...this.rule.scalars(), "eva/step": this.#steps };
  }

  override loadScalars(s: Record<string, number>): void {
    this.rule.loadScalars(s);
    this.#steps = s["eva/step"] ?? 0;
  }

  override dispose(): void {
    this.rule.dispose();
    for (const v of this.#vectors) {
      v.a.dispose();
      v.g.dispose();
    }
  }
}
