/**
 * A linear weight site: `rows @ kernel + bias` applied at T positions per
 * sample (dense: the inputs, T = 1, or a sequence's T positions; conv2d: the
 * patches, T = outH * outW; attention: its projections at T positions).
 * Here are its variables and initialisation, its forward step with probe and
 * capture, and its stateless curvature math: weight gradients, Gram
 * matrices and K-FAC factors from its inputs A (or patches P) and its output
 * gradients E. Nothing here owns optimizer state; the math runs inside the
 * step's `tf.tidy`.
 *
 * `e` is always the gradient of the mean batch loss (backprop's `e_i / M`);
 * sample i's own per-sample gradient (of its unscaled loss) is `M * e_i`.
 */
import * as tf from "@tensorflow/tfjs";
import { linearToInput, matMulT } from "../ops.ts";
import type { Activation } from "../spec_fields.ts";
import type {
  BuildContext,
  ForwardPass,
  PlannedSite,
  SiteCapture,
  SiteGrad,
  SiteMath,
  WeightSite,
} from "./kind.ts";
import { chooseGramMethod, type GramMethod, kfacSizes } from "./linear_cost.ts";
import {
  hostRowProductsAvailable,
  rowProducts,
} from "../kernels/row_products.ts";

/**
 * Backends whose tensors live in this thread's memory, where reading A and
 * E out for the host kernel costs a copy and no transfer; on them the
 * one-position Gram comes from {@link hostGram}.
 */
const HOST_GRAM_BACKENDS = new Set(["wasm", "cpu"]);

function useHostGram(): boolean {
  return HOST_GRAM_BACKENDS.has(tf.getBackend()) && hostRowProductsAvailable();
}

/**
 * `(A A^T + 1) o (E E^T) M^2` from host rows (A: rows x k, E: rows x
 * units; `m` the batch, which scales) by the row-products kernel: whole (half the blocks, by symmetry), or the
 * lower strip at columns [lo, hi) (see {@link gramStrip}). No transpose
 * and no repacking; the Hadamard products run in double precision on the
 * float32 products.
 */
function hostGram(
  a: Float32Array,
  e: Float32Array,
  rows: number,
  m: number,
  strip?: [number, number],
): Float32Array {
  const k = a.length / rows;
  const units = e.length / rows;
  const products = (x: Float32Array, width: number) => {
    if (!strip) return rowProducts(x, rows, width);
    const [lo, hi] = strip;
    return rowProducts(x.subarray(lo * width), rows - lo, width, {
      rows: x.subarray(lo * width, hi * width),
      n: hi - lo,
    });
  };
  const aa = products(a, k);
  const ee = products(e, units);
  const m2 = m * m;
  for (let i = 0; i < aa.length; i++) aa[i] = (aa[i] + 1) * ee[i] * m2;
  return aa;
}

/**
 * The lower strip of one position's Gram matrix at columns [lo, hi), from
 * the whole batch's host rows (`inputs` M x k, `outGrad` M x units): its
 * rows [lo, M), an (M - lo) x (hi - lo) block. Strips over a
 * partition of the columns hold the lower triangle, which K's symmetry
 * completes.
 * @throws {Error} where the row-products kernel cannot run (no WebAssembly
 * SIMD; see {@link hostRowProductsAvailable}).
 */
function gramStrip(
  inputs: Float32Array,
  outGrad: Float32Array,
  m: number,
  lo: number,
  hi: number,
): Float32Array {
  return hostGram(inputs, outGrad, m, m, [lo, hi]);
}

/**
 * `A^T`, computed once per capture: the weight gradient and, off the host
 * kernel's backends, the Gram matrix both need it, and a 128 x 784
 * transpose costs 0.4 ms on wasm. The cached tensor belongs to the step's
 * tidy, like the capture's other intermediates.
 */
function inputsTransposed(cap: SiteCapture): tf.Tensor2D {
  cap.inputsT ??= tf.transpose(cap.inputs);
  return cap.inputsT;
}

/**
 * `[A, 1]`, computed once per capture: K-FAC's factor update and its
 * capture-first direction both need it in the same step.
 */
function inputsWithOnes(cap: SiteCapture): tf.Tensor2D {
  cap.withOnes ??= tf.concat(
    [cap.inputs, tf.ones([cap.inputs.shape[0], 1])],
    1,
  );
  return cap.withOnes;
}

/** Mean-loss gradient `A^T e` (SGD's direction; `c = 1/M` in FNGD terms). */
function meanGradient(cap: SiteCapture, e: tf.Tensor2D): SiteGrad {
  return {
    kernel: tf.matMul(inputsTransposed(cap), e),
    bias: tf.sum(e, 0),
  };
}

/**
 * `U c = sum_i c_i g_i` without forming U: `A^T diag(c) E` with E per-sample.
 * `scaled` is the (M, 1) column `M c` (e is mean-scaled, so `M c_i e_i` is
 * `c_i` times sample i's own gradient); with T > 1 positions every position
 * of sample i is scaled by it.
 */
function weightedGradient(
  cap: SiteCapture,
  e: tf.Tensor2D,
  scaled: tf.Tensor2D,
): SiteGrad {
  const weighted = cap.positions === 1
    ? tf.mul(e, scaled)
    : scaleBySample(e, scaled);
  return {
    kernel: tf.matMul(inputsTransposed(cap), weighted as tf.Tensor2D),
    bias: tf.sum(weighted, 0),
  };
}

/** `e`'s rows (M*T of them) scaled by their sample's entry of the (M, 1) column `scaled`. */
export function scaleBySample(
  e: tf.Tensor2D,
  scaled: tf.Tensor2D,
): tf.Tensor2D {
  const m = scaled.shape[0];
  return tf.reshape(tf.mul(tf.reshape(e, [m, -1]), scaled), e.shape);
}

/**
 * The per-sample Gram matrix `K = U^T U` (M x M, U the per-sample gradients
 * as columns), bias included, without materialising U:
 * `(A A^T + 1) o (E E^T)` for one position; with T positions, by per-sample
 * gradients or pairwise position products, `method` or the cheaper.
 */
export function gramMatrix(
  cap: SiteCapture,
  e: tf.Tensor2D,
  m: number,
  method?: GramMethod,
): tf.Tensor2D {
  if (cap.gram) return cap.gram;
  const m2 = m * m; // e is mean-scaled: E E^T (per-sample) = m^2 e e^T
  if (cap.positions === 1) {
    if (useHostGram()) {
      const rows = cap.inputs.shape[0];
      const host = hostGram(
        cap.inputs.dataSync() as Float32Array,
        e.dataSync() as Float32Array,
        rows,
        m,
      );
      return tf.tensor2d(host, [rows, rows]);
    }
    const aa = tf.add(tf.matMul(cap.inputs, inputsTransposed(cap)), 1);
    const ee = matMulT(e, e, false, true);
    return tf.mul(tf.mul(aa, ee), m2);
  }
  const t = cap.positions;
  const k = cap.inputs.shape[1];
  const units = e.shape[1];
  if ((method ?? chooseGramMethod(m, t, k, units)) === "pairwise") {
    const pp = tf.add(tf.matMul(cap.inputs, inputsTransposed(cap)), 1);
    const ee = matMulT(e, e, false, true);
    const blocks = tf.reshape(tf.mul(pp, ee), [m, t, m, t]);
    return tf.mul(tf.sum(blocks, [1, 3]), m2) as tf.Tensor2D;
  }
  const p3 = tf.reshape(cap.inputs, [m, t, k]);
  const e3 = tf.reshape(e, [m, t, units]);
  const perSample = tf.reshape(tf.matMul(tf.transpose(p3, [0, 2, 1]), e3), [
    m,
    k * units,
  ]);
  const biasGrads = tf.sum(e3, 1) as tf.Tensor2D;
  const kw = matMulT(perSample, perSample, false, true);
  const kb = matMulT(biasGrads, biasGrads, false, true);
  return tf.mul(tf.add(kw, kb), m2);
}

/**
 * K-FAC factors of one batch: `A = mean over rows of [a, 1][a, 1]^T` and
 * `G = sum_rows (M e)(M e)^T / M`, i.e. E[g g^T] per sample for dense layers.
 * With T positions (conv patches, sequence layers) this is K-FAC-expand
 * (Eschenhagen et al. 2023): positions are treated as extra samples, A
 * averaged over all M*T rows and G summed over positions, averaged over
 * samples, the convention for a loss that sums over positions.
 */
function kfacFactors(
  cap: SiteCapture,
  e: tf.Tensor2D,
  m: number,
): { a: tf.Tensor2D; g: tf.Tensor2D } {
  const rows = cap.inputs.shape[0];
  const aug = inputsWithOnes(cap);
  return {
    a: tf.div(matMulT(aug, aug, true, false), rows),
    g: tf.mul(matMulT(e, e, true, false), m),
  };
}

/** `A^-1 [dW; db] G^-1`: kernel and bias stacked as the (fan_in + 1, units) matrix A and G act on. */
function kfacPrecondition(
  grad: SiteGrad,
  aInv: tf.Tensor2D,
  gInv: tf.Tensor2D,
): SiteGrad {
  if (!grad.bias) {
    return { kernel: tf.matMul(tf.matMul(aInv, grad.kernel), gInv) };
  }
  const stacked = tf.concat([grad.kernel, tf.reshape(grad.bias, [1, -1])], 0);
  const w = tf.matMul(tf.matMul(aInv, stacked), gInv);
  const fanIn = w.shape[0] - 1;
  return {
    kernel: tf.slice(w, [0, 0], [fanIn, -1]) as tf.Tensor2D,
    bias: tf.reshape(tf.slice(w, [fanIn, 0], [1, -1]), [-1]),
  };
}

/**
 * `A^-1 [dW; db] G^-1` from the capture. With `X = [A, 1]` (rows x a) the
 * stacked gradient is `X^T e`, so the direction is also
 * `(A^-1 X^T)(e G^-1)`: `2 a^2 rows + 2 rows g^2` multiply-adds against
 * `2 a^2 g + 2 a g^2` after the gradient, both plus the `2 rows a g`
 * product. With few rows and wide factors (a dense layer at batch 128:
 * 785 x 256 factors) the second order costs less than half; with many
 * rows (conv patches) the first, so the cheaper one is taken.
 */
function kfacDirection(
  cap: SiteCapture,
  e: tf.Tensor2D,
  aInv: tf.Tensor2D,
  gInv: tf.Tensor2D,
): SiteGrad {
  const rows = cap.inputs.shape[0];
  const a = aInv.shape[0];
  const g = gInv.shape[0];
  if (a * a * rows + rows * g * g >= a * a * g + a * g * g) {
    return kfacPrecondition(meanGradient(cap, e), aInv, gInv);
  }
  const w = tf.matMul(
    matMulT(aInv, inputsWithOnes(cap), false, true),
    tf.matMul(e, gInv),
  );
  const fanIn = a - 1;
  return {
    kernel: tf.slice(w, [0, 0], [fanIn, -1]) as tf.Tensor2D,
    bias: tf.reshape(tf.slice(w, [fanIn, 0], [1, -1]), [-1]),
  };
}

/** {@link SiteMath.gramDiagonal} of rows with a bias: `sum_t (||a_it||^2 + 1) ||e_it||^2`. */
function gramDiagonal(
  cap: SiteCapture,
  e: tf.Tensor2D,
  m: number,
): tf.Tensor1D {
  const a2 = tf.add(tf.sum(tf.square(cap.inputs), 1), 1);
  return sumPerSample(tf.mul(a2, tf.sum(tf.square(e), 1)), m);
}

/** `(M*T,)` row values summed per sample to `(M,)`. */
export function sumPerSample(rows: tf.Tensor, m: number): tf.Tensor1D {
  return tf.sum(tf.reshape(rows, [m, -1]), 1) as tf.Tensor1D;
}

/** The curvature math of every linear site. */
export const LINEAR_SITE_MATH: SiteMath = {
  meanGradient,
  weightedGradient,
  gram: (cap, e, m) => gramMatrix(cap, e, m),
  gramStrip,
  gramDiagonal,
  kfacSizes,
  kfacFactors,
  kfacPrecondition,
  kfacDirection,
};

/** A linear site: it always has a bias. */
export type LinearSite = WeightSite & { bias: tf.Variable<tf.Rank.R1> };

/**
 * Creates a planned site's variables: a seeded kernel, He (`relu`) or Glorot
 * unless `ctx.init` says which, and a zero bias. `receptive` is the kernel's
 * spatial size, which Glorot's fan-out counts as Keras does.
 */
export function createLinearSite(
  planned: PlannedSite,
  ctx: BuildContext,
  activation: Activation,
  receptive = 1,
): LinearSite {
  const { fanIn, units } = planned;
  const scheme = ctx.init ?? (activation === "relu" ? "he" : "glorot");
  const values = new Float32Array(fanIn * units);
  if (scheme === "he") {
    const std = Math.sqrt(2 / fanIn);
    for (let i = 0; i < values.length; i++) values[i] = ctx.rng.normal() * std;
  } else {
    const limit = Math.sqrt(6 / (fanIn + units * receptive));
    for (let i = 0; i < values.length; i++) {
      values[i] = (ctx.rng.next() * 2 - 1) * limit;
    }
  }
  return {
    ...planned,
    kernel: tf.tidy(() =>
      tf.variable(tf.tensor2d(values, [fanIn, units]), true)
    ),
    bias: tf.tidy(() => tf.variable(tf.zeros([units]), true)),
    math: LINEAR_SITE_MATH,
  };
}

/** A site's variables by self-describing name: `dense_1/kernel`, `dense_1/bias`. */
export function siteVariables(site: WeightSite): [string, tf.Variable][] {
  const out: [string, tf.Variable][] = [[`${site.name}/kernel`, site.kernel]];
  if (site.bias) out.push([`${site.name}/bias`, site.bias]);
  return out;
}

/**
 * `[M, ...site.output]`, except that a sequence's T follows the rows, which
 * greedy decoding cuts shorter than planned.
 */
function outputShape(site: LinearSite, m: number): number[] {
  return site.output.length === 2 ? [m, -1, site.units] : [m, ...site.output];
}

/**
 * The site's pre-activation for `rows` (M*T, fan_in), shaped
 * `[M, ...site.output]`. In training (`pass.probes`) it adds the site's probe,
 * so d loss / d probe is its output gradient, and captures `rows` for the
 * optimizer.
 */
export function linearForward(
  site: LinearSite,
  rows: tf.Tensor2D,
  m: number,
  pass: ForwardPass,
): tf.Tensor {
  // Training passes only need gradients to the inputs; plain matMul keeps the
  // weights differentiable for references and evaluation.
  const product = pass.probes
    ? linearToInput(rows, site.kernel)
    : tf.matMul(rows, site.kernel);
  let s: tf.Tensor = tf.add(product, site.bias);
  if (site.output.length > 1) s = tf.reshape(s, outputShape(site, m));
  if (pass.probes) s = tf.add(s, pass.probes[site.index]);
  if (pass.captures) {
    pass.captures[site.index] = {
      inputs: tf.keep(rows),
      positions: site.positions,
    };
  }
  return s;
}

/**
 * A dense layer's output `act(x W + b)`. Training passes with probes go
 * through {@link linearForward}; otherwise this mirrors tfjs-layers'
 * `Dense.call` op for op (a fused matMul with bias, and relu, where it fuses
 * them), so an exported dense model reproduces our evaluation bit for bit.
 */
export function denseOutput(
  site: LinearSite,
  x: tf.Tensor,
  activation: Activation,
  pass: ForwardPass,
): tf.Tensor {
  const m = x.shape[0];
  // Position-wise on sequences: rows are the M*T positions.
  const rows = x.rank === 2
    ? x as tf.Tensor2D
    : tf.reshape(x, [-1, site.fanIn]) as tf.Tensor2D;
  if (pass.probes) {
    return activate(linearForward(site, rows, m, pass), activation);
  }
  let y: tf.Tensor;
  if (activation === "relu" || activation === "linear") {
    y = tf.fused.matMul({
      a: rows,
      b: site.kernel,
      bias: site.bias,
      activation,
    });
  } else {
    y = activate(tf.add(tf.matMul(rows, site.kernel), site.bias), activation);
  }
  return x.rank === 2 ? y : tf.reshape(y, outputShape(site, m));
}

/**
 * Applies a layer's activation, op for op as tfjs-layers applies the
 * activation of the same name, so an exported model reproduces our outputs
 * bit for bit. `gelu` is exact: `x * 0.5 (1 + erf(x / sqrt 2))`.
 */
export function activate(s: tf.Tensor, activation: Activation): tf.Tensor {
  switch (activation) {
    case "relu":
      return tf.relu(s);
    case "tanh":
      return tf.tanh(s);
    case "sigmoid":
      return tf.sigmoid(s);
    case "gelu":
      return tf.mul(s, tf.mul(0.5, tf.add(1, tf.erf(tf.div(s, Math.SQRT2)))));
    case "linear":
      return s;
  }
}
