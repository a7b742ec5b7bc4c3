/**
 * `fngd` and `ngd`: the SMW natural gradient as a weighted sum of per-sample
 * gradients. `ngd` solves for the weights at every step; `fngd` solves in
 * inversion epochs, caches them per (batch, layer), and reuses them after,
 * re-solving a pair early with `refresh: "auto"` when its Gram diagonal has
 * drifted (staleness.ts), and measuring staleness on a few probe batches.
 */
import * as tf from "@tensorflow/tfjs";
import type { SiteGrad, WeightSite } from "../layers/mod.ts";
import { CoefficientTally } from "../coefficient_summary.ts";
import { solveSmwCoefficients } from "../smw.ts";
import type {
  CoefficientLayerSummary,
  CoefficientStore,
  Phase,
  StalenessEventData,
} from "../types.ts";
import {
  afterRead,
  BaseOptimizer,
  type ShardPlan,
  type StepContext,
} from "./optimizer.ts";
import type { UpdateRule } from "./update_rules.ts";
import {
  directionCosine,
  driftSignal,
  isProbeBatch,
  relativeChange,
  StalenessTracker,
} from "./staleness.ts";

/** When coefficients are (re)computed, and what is measured about them. */
export interface SmwSchedule {
  /** `ngd`: every step. */
  everyStep: boolean;
  /** `fngd`: recompute every k epochs; undefined means epoch 1 only. */
  refreshEvery?: number;
  /** `fngd`: re-solve a (batch, layer) whose drift signal exceeds `threshold`. */
  auto?: boolean;
  threshold?: number;
  /** `fngd`: probe batches per inverse-free epoch, re-solved for measurement only. */
  stalenessSamples?: number;
}

/** A (batch, layer)'s coefficients on the host and the diagonal they were solved at. */
interface Solved {
  c: Float32Array;
  diagonal: Float32Array;
}

/** The SMW optimizer shared by `ngd` and `fngd`. */
export class SmwOptimizer extends BaseOptimizer {
  /** This step's coefficients per site, when solved or loaded for it. */
  #fresh: (Float32Array | undefined)[] = [];
  #toStore: {
    batch: number;
    layer: number;
    epoch: number;
    c: Float32Array;
    diagonal: Float32Array;
    lambda: number;
  }[] = [];
  /** Per epoch, the vectors it solved, for its `coefficients` event. */
  #tallies = new Map<number, CoefficientTally>();
  #warnedMissing = false;
  /**
   * fngd only: each (batch, layer)'s `M c` as an (M, 1) column kept on the
   * backend, so an inverse-free step uploads nothing and adds one multiply.
   */
  #columns = new Map<string, tf.Tensor2D>();
  /** fngd only: the host copy of each cached (batch, layer), for drift and probes. */
  #solved = new Map<string, Solved>();
  readonly #staleness: StalenessTracker;

  constructor(
    sites: WeightSite[],
    rule: UpdateRule,
    readonly alpha: number,
    readonly schedule: SmwSchedule,
    readonly store: CoefficientStore,
  ) {
    super(sites, rule);
    this.#staleness = new StalenessTracker(sites.length);
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
    this.#fresh = [];
    if (this.schedule.everyStep || this.#isInversionEpoch(epoch)) return;
    for (const s of this.sites) {
      const key = `${batch}:${s.index}`;
      // The store is read only for what the cache lacks (e.g. after a resume).
      if (this.#solved.has(key)) continue;
      const entry = await this.store.get(batch, s.index, epoch);
      if (!entry) continue;
      this.#fresh[s.index] = entry.coefficients;
      this.#solved.set(key, {
        c: entry.coefficients,
        diagonal: entry.diagonal,
      });
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

  step(ctx: StepContext): void | Promise<void> {
    const inverseFree = this.phase(ctx.epoch) === "inverse_free";
    const keyOf = (s: WeightSite) => `${ctx.batch}:${s.index}`;
    const missing = this.sites.filter((s) =>
      this.#fresh[s.index] === undefined &&
      !(inverseFree && this.#solved.has(keyOf(s)))
    );
    if (missing.length > 0 && inverseFree && !this.#warnedMissing) {
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
    const probe = inverseFree && isProbeBatch(
      ctx.batch,
      ctx.batches,
      this.schedule.stalenessSamples ?? 0,
    );
    // fngd needs each solved pair's diagonal (its drift reference), and in
    // inverse-free epochs every pair's when it checks drift. A pair solved
    // now at one position per sample reads it off its Gram instead, which
    // saves the kernels of a second pass over the inputs.
    const fromGram = (s: WeightSite) =>
      missing.includes(s) && ctx.captures[s.index].positions === 1;
    const watch =
      (this.schedule.everyStep
        ? []
        : inverseFree && (this.schedule.auto || probe)
        ? this.sites
        : missing).filter((s) => !fromGram(s));
    const diagonalOf = (s: WeightSite) =>
      s.math.gramDiagonal(ctx.captures[s.index], ctx.outGrads[s.index], ctx.m);
    const gramOf = (s: WeightSite) =>
      s.math.gram(ctx.captures[s.index], ctx.outGrads[s.index], ctx.m);
    const read = ctx.readHost([
      ...missing.map(gramOf),
      ...watch.map(diagonalOf),
    ]);
    const checked = afterRead(read, (host) => {
      const diagonals = new Map<number, Float32Array>();
      watch.forEach((s, j) =>
        diagonals.set(s.index, host[missing.length + j].slice())
      );
      if (!this.schedule.everyStep) {
        missing.filter(fromGram).forEach((s) =>
          diagonals.set(
            s.index,
            gramDiagonalOf(host[missing.indexOf(s)], ctx.m),
          )
        );
      }
      missing.forEach((s, j) =>
        this.#solve(ctx, s, host[j], diagonals.get(s.index))
      );
      if (inverseFree && watch.length > 0) {
        return this.#checkDrift(ctx, missing, diagonals, probe, gramOf);
      }
    });
    // A promise that resolves to a promise settles with the inner one.
    return afterRead(checked, (): void | Promise<void> => {
      if (ctx.shards) {
        const c = this.sites.map((s) => this.#coefficients(ctx.batch, s)!);
        return afterRead(
          ctx.shards.directions(c),
          (dirs) => this.apply(dirs, ctx.plainGrads),
        );
      }
      const dirs: SiteGrad[] = this.sites.map((s) =>
        s.math.weightedGradient(
          ctx.captures[s.index],
          ctx.outGrads[s.index],
          this.#column(ctx.batch, s.index, ctx.m, this.#fresh[s.index]),
        )
      );
      this.apply(dirs, ctx.plainGrads);
    }) as void | Promise<void>;
  }

  /** This step's host coefficients of `s`: solved or loaded now, or cached. */
  #coefficients(batch: number, s: WeightSite): Float32Array | undefined {
    return this.#fresh[s.index] ?? this.#solved.get(`${batch}:${s.index}`)?.c;
  }

  /**
   * Data-parallel steps: shards send their parts of the direction straight
   * away when every pair's coefficients are cached and nothing needs the
   * whole batch (no drift check, no probe); otherwise they gather it.
   */
  shardPlan(
    epoch: number,
    batch: number,
    batches: number,
  ): ShardPlan {
    const s = this.schedule;
    // Solving every pair (or probing every pair) needs every Gram; auto
    // refresh only the stale pairs', found once the diagonals are in.
    if (
      s.everyStep || this.#isInversionEpoch(epoch) ||
      isProbeBatch(batch, batches, s.stalenessSamples ?? 0)
    ) return { gather: true, grams: true };
    if (s.auto) return { gather: true, grams: false };
    const c = this.sites.map((site) => this.#coefficients(batch, site));
    if (c.some((v) => v === undefined)) return { gather: true, grams: true };
    return { gather: false, weights: c as Float32Array[] };
  }

  /**
   * Inverse-free epochs: the drift signal of every watched pair with a
   * reference; auto re-solves those past the threshold, and probe batches
   * re-solve every pair to measure the reused direction against the fresh
   * one (keeping the fresh coefficients only where auto refreshes).
   */
  #checkDrift(
    ctx: StepContext,
    solvedNow: WeightSite[],
    diagonals: Map<number, Float32Array>,
    probe: boolean,
    gramOf: (s: WeightSite) => tf.Tensor2D,
  ): void | Promise<void> {
    const refresh: WeightSite[] = [];
    const measure: WeightSite[] = [];
    for (const s of this.sites) {
      if (solvedNow.includes(s)) continue;
      const old = this.#solved.get(`${ctx.batch}:${s.index}`);
      const d = diagonals.get(s.index);
      if (!old || !d) continue;
      const signal = driftSignal(d, old.diagonal);
      this.#staleness.checked(ctx.epoch, s.index, signal);
      const stale = this.schedule.auto === true &&
        signal > (this.schedule.threshold ?? Infinity);
      if (stale) refresh.push(s);
      if (stale || probe) measure.push(s);
    }
    if (measure.length === 0) return;
    return afterRead(
      ctx.readHost(measure.map(gramOf)),
      (grams) =>
        this.#remeasure(ctx, measure, refresh, diagonals, probe, grams),
    );
  }

  /** Re-solves the `measure` pairs from their fresh Grams (see #checkDrift). */
  #remeasure(
    ctx: StepContext,
    measure: WeightSite[],
    refresh: WeightSite[],
    diagonals: Map<number, Float32Array>,
    probe: boolean,
    grams: Float32Array[],
  ): void {
    measure.forEach((s, j) => {
      // `old` is the reused entry; a refresh below replaces it in #solved.
      const old = this.#solved.get(`${ctx.batch}:${s.index}`)!;
      const d = diagonals.get(s.index)!;
      const stale = refresh.includes(s);
      // One solve serves both the refresh and the probe's measurement.
      const fresh = stale
        ? this.#solve(ctx, s, grams[j], d)
        : solveSmwCoefficients(grams[j], ctx.m, this.alpha).coefficients;
      if (stale) {
        this.counters.refreshes += 1;
        this.#staleness.refreshed(ctx.epoch, s.index);
      } else {
        this.counters.staleness_probes += 1;
      }
      if (probe) {
        this.#staleness.probed(
          ctx.epoch,
          s.index,
          directionCosine(grams[j], ctx.m, old.c, fresh),
          relativeChange(d, old.diagonal),
        );
      }
    });
  }

  /** Solves one pair's coefficients for this step and, for fngd, records them; returns them. */
  #solve(
    ctx: StepContext,
    s: WeightSite,
    gram: Float32Array,
    diagonal: Float32Array | undefined,
  ): Float32Array {
    const sol = solveSmwCoefficients(gram, ctx.m, this.alpha);
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
    this.#fresh[s.index] = sol.coefficients;
    if (this.schedule.everyStep) return sol.coefficients;
    const d = diagonal ?? new Float32Array(0);
    this.#solved.set(`${ctx.batch}:${s.index}`, {
      c: sol.coefficients,
      diagonal: d,
    });
    this.#toStore.push({
      batch: ctx.batch,
      layer: s.index,
      epoch: ctx.epoch,
      c: sol.coefficients,
      diagonal: d,
      lambda: sol.lambda,
    });
    let tally = this.#tallies.get(ctx.epoch);
    if (!tally) {
      tally = new CoefficientTally(this.sites.map((site) => site.index));
      this.#tallies.set(ctx.epoch, tally);
    }
    tally.add(s.index, sol.coefficients);
    return sol.coefficients;
  }

  override async afterStep(): Promise<void> {
    const pending = this.#toStore;
    this.#toStore = [];
    for (const p of pending) {
      await this.store.put(
        p.batch,
        p.layer,
        { coefficients: p.c, epoch: p.epoch, diagonal: p.diagonal },
        p.lambda,
      );
    }
  }

  override flush(): Promise<void> {
    return this.store.flush();
  }

  override coefficientSummary(
    epoch: number,
  ): CoefficientLayerSummary[] | undefined {
    const tally = this.#tallies.get(epoch);
    this.#tallies.delete(epoch);
    return tally?.summary(this.alpha);
  }

  override stalenessSummary(epoch: number): StalenessEventData | undefined {
    return this.#staleness.summary(epoch);
  }

  override dispose(): void {
    super.dispose();
    for (const c of this.#columns.values()) c.dispose();
    this.#columns.clear();
  }
}

/**
 * The Gram-diagonal proxy of a pair with one position per sample, read off
 * its host Gram: there `sum_t (||a_it||^2 + 1) ||e_it||^2` is sample i's
 * squared gradient norm, `K_ii / M^2` (K holds the unscaled per-sample
 * gradients; e is mean-scaled).
 */
function gramDiagonalOf(gram: Float32Array, m: number): Float32Array {
  const d = new Float32Array(m);
  const m2 = m * m;
  for (let i = 0; i < m; i++) d[i] = gram[i * m + i] / m2;
  return d;
}
