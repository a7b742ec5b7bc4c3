/**
 * One data-parallel training step. The batch's rows are cut into one range
 * per thread; this thread is shard 0 and the workers the rest. Every shard
 * runs forward and backward from the same weights, its output gradients
 * scaled to the whole batch's mean loss, so the parts of a direction add up
 * to the single-thread direction (up to float rounding).
 *
 * What crosses threads each step: the weights (out), and back either each
 * shard's part of the direction (SGD, and FNGD epochs that reuse cached
 * coefficients) or its captures and output gradients, which this thread
 * joins into the whole batch for the Gram matrices, solves, and then asks
 * the shards for their parts of the weighted direction.
 */
import * as tf from "@tensorflow/tfjs";
import type { HostSplit } from "../batches.ts";
import type { SiteCapture, SiteGrad } from "../layers/mod.ts";
import type { SequentialModel } from "../model.ts";
import type {
  Optimizer,
  ShardReduction,
  StepContext,
} from "../optim/optimizer.ts";
import type { LossName } from "../spec_fields.ts";
import { stepGrads } from "../step_grads.ts";
import { hostRowProductsAvailable } from "../kernels/row_products.ts";
import {
  foldedStrips,
  type HostCapture,
  type HostSiteGrad,
  shardRanges,
  type ShardWeights,
} from "./shard_messages.ts";
import {
  addHostDirections,
  hostTensor,
  partialDirections,
} from "./shard_math.ts";
import type { ShardPool, Stepped } from "./shard_pool.ts";

/** What a parallel step needs of the run. */
export interface ParallelStepInput {
  pool: ShardPool;
  model: SequentialModel;
  loss: LossName;
  split: HostSplit;
  optimizer: Optimizer;
  epoch: number;
  batch: number;
  batches: number;
  /** The batch's first row and size. */
  start: number;
  m: number;
  /** The step's dropout seed. */
  seed: number;
}

/** Runs one step over the pool; resolves with the batch's mean loss. */
export async function parallelStep(input: ParallelStepInput): Promise<number> {
  const { pool, model, optimizer, m } = input;
  // Never a shard without rows: a last batch smaller than the pool uses fewer.
  const ranges = shardRanges(m, Math.min(pool.size + 1, m));
  const remote = ranges.slice(1);
  const plan = optimizer.shardPlan!(input.epoch, input.batch, input.batches);
  const weights = [...model.variables().values()].map((v) =>
    v.dataSync() as Float32Array
  );
  const stepped = remote.map(([lo, hi], i) =>
    input.pool.step(i, {
      weights,
      start: input.start,
      m,
      lo,
      hi,
      seed: input.seed,
      ...(plan.gather ? {} : { weights_of_samples: plan.weights }),
      gather: plan.gather,
    })
  );
  // Awaited below; should this thread's own part throw first, they are
  // left behind, and a shard closed with the run must not then surface as
  // an unhandled rejection.
  for (const s of stepped) s.catch(() => {});
  const [lo0, hi0] = ranges[0];
  let local: SiteCapture[] = [];
  tf.engine().startScope();
  try {
    const { x, y } = input.split.rows(input.start + lo0, hi0 - lo0);
    const g = stepGrads(model, input.loss, x, y, input.seed, (hi0 - lo0) / m);
    local = g.captures;
    const localPart = (w: ShardWeights): SiteGrad[] =>
      partialDirections(model.trainable, local, g.outGrads, w, m, lo0, hi0);
    // This thread's part while the shards work on theirs.
    const early = plan.gather ? undefined : localPart(plan.weights);
    const answers = await Promise.all(stepped);
    const localLoss = g.value.dataSync()[0] * (hi0 - lo0);
    const loss = answers.reduce((sum, a) => sum + a.loss_sum, localLoss) / m;
    const shards: ShardReduction = {
      directions(w) {
        if (early && !plan.gather && sameWeights(w, plan.weights)) {
          return sum(early, answers.map((a) => a.direction!));
        }
        const parts = remote.map((_, i) => pool.direction(i, w));
        const mine = localPart(w);
        return Promise.all(parts).then((p) => sum(mine, p));
      },
    };
    const whole = plan.gather
      ? joinCaptures(local, g.outGrads, answers)
      : { captures: local, outGrads: g.outGrads };
    if (plan.gather && plan.grams) {
      await assembleGrams(pool, model, whole, ranges.length, m);
    }
    const ctx: StepContext = {
      epoch: input.epoch,
      batch: input.batch,
      batches: input.batches,
      m,
      ...whole,
      plainGrads: g.plainGrads,
      readHost: (tensors) => tensors.map((t) => t.dataSync() as Float32Array),
      shards,
    };
    await optimizer.step(ctx);
    return loss;
  } finally {
    tf.engine().endScope();
    for (const c of local) c.inputs.dispose();
  }
}

/** Whether `a` asks for the parts already computed for `b` (the same arrays). */
function sameWeights(a: ShardWeights, b: ShardWeights): boolean {
  if (a === "mean" || b === "mean") return a === b;
  return a.length === b.length && a.every((c, i) => c === b[i]);
}

function sum(mine: SiteGrad[], parts: HostSiteGrad[][]): SiteGrad[] {
  return parts.reduce((acc, p) => addHostDirections(acc, p), mine);
}

/**
 * Each site's Gram from lower strips, dealt over the shards and this thread
 * by {@link foldedStrips} so that each computes an equal share of the lower
 * triangle, where the site's math has strips; the sites' captures then
 * carry it (`SiteCapture.gram`). The Gram products are most of an
 * inversion step's extra cost, which this splits.
 */
async function assembleGrams(
  pool: ShardPool,
  model: SequentialModel,
  whole: { captures: SiteCapture[]; outGrads: tf.Tensor2D[] },
  parts: number,
  m: number,
): Promise<void> {
  const sites = model.trainable.filter((s) =>
    s.math.gramStrip && whole.captures[s.index].positions === 1
  );
  // Without the kernel each Gram is left to the optimizer, on this thread.
  if (sites.length === 0 || parts < 2 || !hostRowProductsAvailable()) return;
  const dealt = foldedStrips(m, parts);
  const indices = sites.map((s) => s.index);
  const host = sites.map((s) => ({
    inputs: hostTensor(whole.captures[s.index].inputs),
    outGrad: whole.outGrads[s.index].dataSync() as Float32Array,
  }));
  const theirs = dealt.slice(1).map((strips, i) =>
    pool.gramStrips(i, indices, host, strips)
  );
  const mine = sites.flatMap((s, j) =>
    dealt[0].map(([lo, hi]) =>
      // A site with strips has float rows (only embeddings take ids).
      s.math.gramStrip!(
        host[j].inputs.data as Float32Array,
        host[j].outGrad,
        m,
        lo,
        hi,
      )
    )
  );
  const answers = [mine, ...await Promise.all(theirs)];
  sites.forEach((s, j) => {
    const gram = new Float32Array(m * m);
    dealt.forEach((strips, part) =>
      strips.forEach((strip, t) =>
        mirrorStrip(gram, m, strip, answers[part][j * strips.length + t])
      )
    );
    whole.captures[s.index].gram = tf.tensor2d(gram, [m, m]);
  });
}

/** Writes the lower strip at columns [lo, hi) into `gram` (M x M) and its mirror. */
function mirrorStrip(
  gram: Float32Array,
  m: number,
  [lo, hi]: [number, number],
  block: Float32Array,
): void {
  const width = hi - lo;
  for (let r = lo; r < m; r++) {
    for (let c = lo; c < hi; c++) {
      const v = block[(r - lo) * width + c - lo];
      gram[r * m + c] = v;
      gram[c * m + r] = v;
    }
  }
}

/** The whole batch's captures and output gradients, shard 0's rows first. */
function joinCaptures(
  local: SiteCapture[],
  outGrads: tf.Tensor2D[],
  answers: Stepped[],
): { captures: SiteCapture[]; outGrads: tf.Tensor2D[] } {
  const upload = (c: HostCapture) =>
    tf.tensor(c.inputs.data, c.inputs.shape as [number, number]);
  return {
    captures: local.map((c, i) => ({
      inputs: tf.concat([
        c.inputs,
        ...answers.map((a) => upload(a.captures![i])),
      ]) as tf.Tensor2D,
      positions: c.positions,
    })),
    outGrads: outGrads.map((e, i) =>
      tf.concat([
        e,
        ...answers.map((a) => {
          const g = a.captures![i].outGrad;
          return tf.tensor2d(g, [g.length / e.shape[1], e.shape[1]]);
        }),
      ])
    ),
  };
}
