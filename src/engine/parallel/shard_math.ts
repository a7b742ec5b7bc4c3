/**
 * What every shard of a data-parallel step computes from its own rows, on
 * the training run's thread and in the shard workers alike.
 */
import * as tf from "@tensorflow/tfjs";
import type { SiteCapture, SiteGrad, WeightSite } from "../layers/mod.ts";
import type {
  HostSiteGrad,
  HostTensor,
  ShardWeights,
} from "./shard_messages.ts";

/**
 * The shard's part of each site's direction `sum_i c_i g_i` over the batch:
 * its rows' terms only, so the parts add up to the whole. `e` is scaled to
 * the whole batch's mean loss (stepGrads' `share`); `"mean"` is SGD's
 * mean gradient, and coefficients are the batch's, of which rows
 * [lo, hi) are this shard's.
 */
export function partialDirections(
  sites: readonly WeightSite[],
  captures: readonly SiteCapture[],
  outGrads: readonly tf.Tensor2D[],
  weights: ShardWeights,
  m: number,
  lo: number,
  hi: number,
): SiteGrad[] {
  return sites.map((s) => {
    const cap = captures[s.index];
    const e = outGrads[s.index];
    if (weights === "mean") return s.math.meanGradient(cap, e);
    const c = weights[s.index].subarray(lo, hi);
    // `M c`: e is mean-scaled (see SiteMath.weightedGradient).
    const column = tf.mul(tf.tensor2d(c, [hi - lo, 1]), m) as tf.Tensor2D;
    return s.math.weightedGradient(cap, e, column);
  });
}

/** Host copies of directions, for a message. */
export function hostDirections(dirs: readonly SiteGrad[]): HostSiteGrad[] {
  return dirs.map((d) => ({
    kernel: d.kernel.dataSync() as Float32Array,
    ...(d.bias ? { bias: d.bias.dataSync() as Float32Array } : {}),
  }));
}

/** `a + b` per site, `b` from the host. */
export function addHostDirections(
  a: readonly SiteGrad[],
  b: readonly HostSiteGrad[],
): SiteGrad[] {
  return a.map((d, i) => ({
    kernel: tf.add(d.kernel, tf.tensor(b[i].kernel, d.kernel.shape)),
    ...(d.bias && b[i].bias
      ? { bias: tf.add(d.bias, tf.tensor(b[i].bias!, d.bias.shape)) }
      : {}),
  }));
}

/** A host copy of a tensor. */
export function hostTensor(t: tf.Tensor): HostTensor {
  return {
    data: t.dataSync() as Float32Array | Int32Array,
    shape: [...t.shape],
  };
}

/** Buffers a message can hand over instead of copying. */
export function transferables(
  dirs: readonly HostSiteGrad[] | undefined,
): ArrayBuffer[] {
  return (dirs ?? []).flatMap((d) =>
    [d.kernel, d.bias].filter((a) => a !== undefined).map((a) =>
      a!.buffer as ArrayBuffer
    )
  );
}

/**
 * Runs `f` in a tensor scope and returns its host result: like `tf.tidy`,
 * whose result must be tensors, every tensor made in `f` but the kept
 * ones is freed.
 */
export function hostScope<T>(f: () => T): T {
  tf.engine().startScope();
  try {
    return f();
  } finally {
    tf.engine().endScope();
  }
}
