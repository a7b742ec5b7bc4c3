/**
 * `fngd` and `ngd`: the SMW natural gradient as a weighted sum of per-sample
 * gradients. `ngd` solves for the weights at every step; `fngd` solves in
 * inversion epochs, caches them per (batch, layer), and reuses them after.
 */
import * as tf from "@tensorflow/tfjs";
import type { SiteGrad, WeightSite } from "../layers/mod.ts";
import { solveSmwCoefficients } from "../smw.ts";
import type {
  CoefficientLayerSummary,
  CoefficientStore,
  Phase,
} from "../types.ts";
import { BaseOptimizer, type StepContext } from "./optimizer.ts";
import type { UpdateRule } from "./update_rules.ts";

/** When coefficients are (re)computed. */
export interface SmwSchedule {
  /** `ngd`: every step. */
  everyStep: boolean;
  /** `fngd`: recompute every k epochs; undefined means epoch 1 only. */
  refreshEvery?: number;
}

interface LayerStats {
  batches: number;
  sum: number;
  count: number;
  min: number;
  max: number;
}

/** The SMW optimizer shared by `ngd` and `fngd`. */
export class SmwOptimizer extends BaseOptimizer {
  #cached: (Float32Array | undefined)[] = [];
  #solved: { batch: number; layer: number; c: Float32Array; lambda: number }[] =
    [];
  #stats = new Map<number, LayerStats[]>();
  #warnedMissing = false;
  /**
   * fngd only: each (batch, layer)'s `M c` as an (M, 1) column kept on the
   * backend, so an inverse-free step uploads nothing and adds one multiply.
   */
  #columns = new Map<string, tf.Tensor2D>();

  constructor(
    sites: WeightSite[],
    rule: UpdateRule,
    readonly alpha: number,
    readonly schedule: SmwSchedule,
    readonly store: CoefficientStore,
  ) {
    super(sites, rule);
  }

  override phase(epoch: number): Phase {
    if (this.schedule.everyStep) return "train";
    return this.#isInversionEpoch(epoch) ? "inversion" : "inverse_free";
  }

  #isInversionEpoch(epoch: number): boolean {
    const k = this.schedule.refreshEvery;
    return epoch === 1 || (k !== undefined && (epoch - 1) % k === 0);
  }

  override async beforeStep(epoch: number, batch: number): Promise<void> {
    this.#cached = [];
    if (this.schedule.everyStep || this.#isInversionEpoch(epoch)) return;
    for (const s of this.sites) {
      // The store is read only for what the backend cache lacks (e.g. after a resume).
      const onBackend = this.#columns.has(`${batch}:${s.index}`);
      this.#cached.push(
        onBackend ? undefined : await this.store.get(batch, s.index),
      );
    }
  }

  /** The (M, 1) column `M c` for this step; fngd keeps it across epochs. */
  #column(
    batch: number,
    layer: number,
    m: number,
    c?: Float32Array,
  ): tf.Tensor2D {
    const key = `${batch}:${layer}`;
    if (!c) return this.#columns.get(key)!;
    const column = tf.mul(tf.tensor2d(c, [m, 1]), m) as tf.Tensor2D;
    if (this.schedule.everyStep) return column;
    this.#columns.get(key)?.dispose();
    this.#columns.set(key, tf.keep(column));
    return column;
  }

  step(ctx: StepContext): void {
    const inverseFree = this.phase(ctx.epoch) === "inverse_free";
    const need = this.sites.filter((s) =>
      this.#cached[s.index] === undefined &&
      !(inverseFree && this.#columns.has(`${ctx.batch}:${s.index}`))
    );
    if (
      need.length > 0 && inverseFree && !this.#warnedMissing
    ) {
      // A store that lost rows (e.g. an in-memory store after a restart) costs a re-solve, never a wrong step.
      this.#warnedMissing = true;
      this.events.push({
        type: "log",
        data: {
          level: "warn",
          message: "cached coefficients missing; recomputing them",
          batch: ctx.batch,
        },
      });
    }
    const grams = need.map((s) =>
      s.math.gram(ctx.captures[s.index], ctx.outGrads[s.index], ctx.m)
    );
    const host = ctx.readHost(grams);
    need.forEach((s, j) => {
      const sol = solveSmwCoefficients(host[j], ctx.m, this.alpha);
      this.counters.gram_computations += 1;
      this.counters.solves += 1;
      if (sol.retries > 0) {
        this.counters.jitter_retries += sol.retries;
        this.events.push({
          type: "log",
          data: {
            level: "warn",
            message: "Gram system was not positive definite; added jitter",
            batch: ctx.batch,
            layer: s.index,
            jitter: sol.jitter,
            retries: sol.retries,
          },
        });
      }
      this.#cached[s.index] = sol.coefficients;
      if (!this.schedule.everyStep) {
        this.#solved.push({
          batch: ctx.batch,
          layer: s.index,
          c: sol.coefficients,
          lambda: sol.lambda,
        });
        this.#record(ctx.epoch, s.index, sol.coefficients);
      }
    });
    const dirs: SiteGrad[] = this.sites.map((s) =>
      s.math.weightedGradient(
        ctx.captures[s.index],
        ctx.outGrads[s.index],
        this.#column(ctx.batch, s.index, ctx.m, this.#cached[s.index]),
      )
    );
    this.apply(dirs, ctx.plainGrads);
  }

  #record(epoch: number, layer: number, c: Float32Array): void {
    let perLayer = this.#stats.get(epoch);
    if (!perLayer) {
      perLayer = this.sites.map(() => ({
        batches: 0,
        sum: 0,
        count: 0,
        min: Infinity,
        max: -Infinity,
      }));
      this.#stats.set(epoch, perLayer);
    }
    const s = perLayer[layer];
    s.batches += 1;
    for (const v of c) {
      s.sum += v;
      s.count += 1;
      if (v < s.min) s.min = v;
      if (v > s.max) s.max = v;
    }
  }

  override async afterStep(): Promise<void> {
    const solved = this.#solved;
    this.#solved = [];
    for (const s of solved) {
      await this.store.put(s.batch, s.layer, s.c, s.lambda);
    }
  }

  override flush(): Promise<void> {
    return this.store.flush();
  }

  override coefficientSummary(
    epoch: number,
  ): CoefficientLayerSummary[] | undefined {
    const perLayer = this.#stats.get(epoch);
    if (!perLayer) return undefined;
    this.#stats.delete(epoch);
    return perLayer.map((s, layer) => ({
      layer,
      batches: s.batches,
      mean: s.count ? s.sum / s.count : 0,
      min: s.min,
      max: s.max,
      damping: this.alpha,
    }));
  }

  override dispose(): void {
    super.dispose();
    for (const c of this.#columns.values()) c.dispose();
    this.#columns.clear();
  }
}
