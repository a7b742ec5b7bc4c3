/**
 * The messages between a training run and its data-parallel shard workers,
 * and the row ranges they split a batch into. Host arrays only: each side
 * has its own backend.
 */
import type { BackendName } from "../backend_names.ts";
import type { LossName } from "../spec_fields.ts";
import type { ModelSpec } from "../spec.ts";

/** A host copy of a tensor. */
export interface HostTensor {
  data: Float32Array | Int32Array;
  shape: number[];
}

/** A site's direction on the host: `kernel` flat, as the site's kernel. */
export interface HostSiteGrad {
  kernel: Float32Array;
  bias?: Float32Array;
}

/** What a shard sends back of a site when the run gathers the batch. */
export interface HostCapture {
  inputs: HostTensor;
  outGrad: Float32Array;
}

/**
 * Per site, how each sample's gradient is weighted in a shard's partial
 * direction: `"mean"` for the mean gradient (SGD), or the (batch-wide)
 * coefficients `c`, of which the shard takes its rows.
 */
export type ShardWeights = "mean" | Float32Array[];

/** The training split a shard reads its rows from (see HostSplit). */
export interface ShardSplit {
  x: Float32Array | Int32Array;
  targets?: Float32Array;
  count: number;
  inputShape: number[];
  targetWidth: number;
}

export type ToShard =
  | {
    type: "init";
    backend: BackendName;
    wasmDir?: string;
    model: ModelSpec;
    seed: number;
    loss: LossName;
    split: ShardSplit;
  }
  | {
    type: "step";
    /** The weights to step from, in `model.variables()` order. */
    weights: Float32Array[];
    /** The batch's first row, its size, and this shard's rows of it. */
    start: number;
    m: number;
    lo: number;
    hi: number;
    /** Dropout seed of the step (shards are only used without dropout). */
    seed: number;
    /** A partial direction to compute at once, if the weights are known. */
    weights_of_samples?: ShardWeights;
    /** Send the captures and output gradients back. */
    gather: boolean;
  }
  | {
    /** A partial direction from the last step's captures. */
    type: "direction";
    weights_of_samples: ShardWeights;
  }
  | {
    /**
     * Lower strips of K at these column ranges, for each site listed, from
     * the whole batch's captures (each shard's rows in order).
     */
    type: "gram_strips";
    sites: number[];
    captures: HostCapture[];
    strips: [number, number][];
  }
  | { type: "close" };

export type FromShard =
  | { type: "ready" }
  | { type: "failed"; message: string }
  | {
    type: "stepped";
    /** Sum of the shard's per-sample losses. */
    loss_sum: number;
    direction?: HostSiteGrad[];
    captures?: HostCapture[];
  }
  | { type: "direction"; direction: HostSiteGrad[] }
  | {
    type: "gram_strips";
    /**
     * Site-major, per site listed then per strip [lo, hi): K's rows
     * [lo, M) at those columns, an (M - lo, hi - lo) block.
     */
    blocks: Float32Array[];
  };

/**
 * K's columns cut into `2 parts` strips and dealt in folded pairs, strip h
 * with strip `2 parts - 1 - h`: the lower strip at columns [lo, hi) has
 * M - lo rows, so each pair holds an equal share of the lower triangle.
 * Empty strips (M < 2 parts) are left out.
 */
export function foldedStrips(
  m: number,
  parts: number,
): [number, number][][] {
  const strips = shardRanges(m, 2 * parts);
  return Array.from(
    { length: parts },
    (_, h) =>
      [strips[h], strips[2 * parts - 1 - h]].filter(([lo, hi]) => hi > lo),
  );
}

/** `m` rows cut into `shards` contiguous ranges, sizes differing by at most one. */
export function shardRanges(m: number, shards: number): [number, number][] {
  const out: [number, number][] = [];
  let lo = 0;
  for (let h = 0; h < shards; h++) {
    const size = Math.floor(m / shards) + (h < m % shards ? 1 : 0);
    out.push([lo, lo + size]);
    lo += size;
  }
  return out;
}
