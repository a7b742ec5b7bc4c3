/**
 * Weight sites whose rows are one-hot, so `a_it . a_js` is 1 exactly when
 * the two ids are equal and the Gram needs no one-hot matrix: a token
 * embedding (`a_it = onehot(x_it)`) and a learned position embedding
 * (`a_it = onehot(t)`). The one-hot matrix is never built: the forward pass
 * gathers table rows, and every gradient is a scatter-add of `e` rows by id.
 * Neither site has a bias. Like linear_site.ts, `e` is the gradient of the
 * mean batch loss (rows = samples x positions), so a per-sample gradient is
 * `M` times its rows, and the math runs inside the step's `tf.tidy`.
 */
import * as tf from "@tensorflow/tfjs";
import { matMulT } from "../ops.ts";
import type {
  BuildContext,
  ForwardPass,
  PlannedSite,
  SiteCapture,
  SiteGrad,
  SiteMath,
  WeightSite,
} from "./kind.ts";
import {
  chooseEmbeddingGram,
  type EmbeddingGramMethod,
} from "./embedding_plan.ts";
import { kfacSizes } from "./linear_cost.ts";
import { scaleBySample, sumPerSample } from "./linear_site.ts";

/**
 * `sum_r onehot(id_r) e_r^T`, a (vocab, D) gradient, by a scatter-add of the
 * rows of `e` at their ids (ScatterNd sums repeated ids; the wasm backend
 * has it, but not UnsortedSegmentSum).
 */
function scatterRows(cap: SiteCapture, e: tf.Tensor2D, vocab: number) {
  return tf.scatterND(cap.inputs, e, [vocab, e.shape[1]]) as tf.Tensor2D;
}

/**
 * The token embedding's Gram matrix `K_ij = sum_{t,s} [x_it == x_js]
 * (e_it . e_js)` (per-sample `e`), by `method` or the cheaper
 * (embedding_plan.ts says why).
 */
export function embeddingGram(
  cap: SiteCapture,
  e: tf.Tensor2D,
  m: number,
  vocab: number,
  method?: EmbeddingGramMethod,
): tf.Tensor2D {
  const rows = e.shape[0];
  const t = rows / m;
  const dim = e.shape[1];
  const m2 = m * m; // e is mean-scaled
  if ((method ?? chooseEmbeddingGram(m, t, vocab, dim)) === "pairwise") {
    const ee = matMulT(e, e, false, true);
    const same = tf.cast(
      tf.equal(cap.inputs, tf.transpose(cap.inputs)),
      "float32",
    );
    const blocks = tf.reshape(tf.mul(ee, same), [m, t, m, t]);
    return tf.mul(tf.sum(blocks, [1, 3]), m2) as tf.Tensor2D;
  }
  // Each sample's own (vocab, D) gradient: scatter at (sample, token).
  const sample = tf.reshape(
    tf.tile(tf.reshape(tf.range(0, m, 1, "int32"), [m, 1]), [1, t]),
    [rows, 1],
  );
  const index = tf.concat([sample, cap.inputs], 1);
  const perSample = tf.reshape(tf.scatterND(index, e, [m, vocab, dim]), [
    m,
    vocab * dim,
  ]);
  return tf.mul(matMulT(perSample, perSample, false, true), m2);
}

/** {@link SiteMath.gramDiagonal} of one-hot rows without a bias: `sum_t ||e_it||^2`. */
const oneHotDiagonal = (_cap: SiteCapture, e: tf.Tensor2D, m: number) =>
  sumPerSample(tf.sum(tf.square(e), 1), m);

/** K-FAC's `G = sum_rows (M e)(M e)^T / M`, as for linear sites. */
const kfacG = (e: tf.Tensor2D, m: number) =>
  tf.mul(matMulT(e, e, true, false), m) as tf.Tensor2D;

/** `A^-1 grad G^-1` with A diagonal (`aInv` its (1, rows) diagonal) and no bias row. */
function kfacPrecondition(
  grad: SiteGrad,
  aInv: tf.Tensor2D,
  gInv: tf.Tensor2D,
): SiteGrad {
  const scaled = tf.mul(tf.reshape(aInv, [-1, 1]), grad.kernel) as tf.Tensor2D;
  return { kernel: tf.matMul(scaled, gInv) };
}

/** The curvature math of a token embedding with a `vocab`-row table. */
export function tokenSiteMath(vocab: number): SiteMath {
  return {
    meanGradient: (cap, e) => ({ kernel: scatterRows(cap, e, vocab) }),
    weightedGradient: (cap, e, scaled) => ({
      kernel: scatterRows(cap, scaleBySample(e, scaled), vocab),
    }),
    gram: (cap, e, m) => embeddingGram(cap, e, m, vocab),
    gramDiagonal: oneHotDiagonal,
    kfacSizes,
    /**
     * `A = E[a a^T]` averaged over every position of the batch (the
     * "expand" convention, as for conv patches): one-hot rows make it the
     * diagonal of token frequencies, kept as a (1, vocab) row.
     */
    kfacFactors: (cap, e, m) => {
      const rows = e.shape[0];
      const counts = tf.scatterND(cap.inputs, tf.ones([rows]), [vocab]);
      return {
        a: tf.reshape(tf.div(counts, rows), [1, vocab]) as tf.Tensor2D,
        g: kfacG(e, m),
      };
    },
    kfacPrecondition,
  };
}

/**
 * The curvature math of a learned position embedding with `maxLength` rows,
 * used at the first T. `a_it = onehot(t)`, so `a_it . a_js = [t == s]` and
 * `K = sum_t E_t E_t^T`: one (M, T*D) product, cheaper than any token Gram.
 */
export function positionSiteMath(maxLength: number): SiteMath {
  /** Sums the (M*T, D) rows over samples into the table's first T rows. */
  const toTable = (rows: tf.Tensor2D, m: number): tf.Tensor2D => {
    const t = rows.shape[0] / m;
    const perPosition = tf.sum(tf.reshape(rows, [m, t, -1]), 0) as tf.Tensor2D;
    return t === maxLength
      ? perPosition
      : tf.pad(perPosition, [[0, maxLength - t], [0, 0]]);
  };
  return {
    meanGradient: (cap, e) => ({
      kernel: toTable(e, cap.inputs.shape[0] / cap.positions),
    }),
    weightedGradient: (_cap, e, scaled) => ({
      kernel: toTable(scaleBySample(e, scaled), scaled.shape[0]),
    }),
    gram: (_cap, e, m) => {
      const flat = tf.reshape(e, [m, -1]);
      return tf.mul(matMulT(flat, flat, false, true), m * m);
    },
    gramDiagonal: oneHotDiagonal,
    kfacSizes,
    /** `A` averaged over positions: `1/T` on the first T diagonal entries, as a (1, max_length) row. */
    kfacFactors: (cap, e, m) => {
      const t = cap.positions;
      const diag = new Float32Array(maxLength);
      diag.fill(1 / t, 0, t);
      return { a: tf.tensor2d(diag, [1, maxLength]), g: kfacG(e, m) };
    },
    kfacPrecondition,
  };
}

/**
 * Creates a table site (vocab or max_length rows, dim columns), uniform in
 * [-0.05, 0.05] as Keras's Embedding initialises it.
 */
export function createTableSite(
  planned: PlannedSite,
  ctx: BuildContext,
  math: SiteMath,
): WeightSite {
  const values = new Float32Array(planned.fanIn * planned.units);
  for (let i = 0; i < values.length; i++) {
    values[i] = (ctx.rng.next() * 2 - 1) * 0.05;
  }
  return {
    ...planned,
    kernel: tf.tidy(() =>
      tf.variable(tf.tensor2d(values, [planned.fanIn, planned.units]), true)
    ),
    math,
  };
}

/**
 * Adds the site's probe to its pre-activation `s` (M, T, D) and captures
 * `ids` (M*T, 1) int32, the one-hot rows' ids, in a training pass.
 */
export function probeTable(
  site: WeightSite,
  s: tf.Tensor,
  ids: () => tf.Tensor2D,
  pass: ForwardPass,
): tf.Tensor {
  if (pass.captures) {
    pass.captures[site.index] = {
      inputs: tf.keep(ids()),
      positions: site.positions,
    };
  }
  return pass.probes ? tf.add(s, pass.probes[site.index]) : s;
}
