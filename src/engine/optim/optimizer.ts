/**
 * One small interface for every optimizer. A step reads as named phases: the
 * trainer runs forward and backward to the probes, then the optimizer
 * preconditions (`directions`) and applies (`UpdateRule`).
 */
import * as tf from "@tensorflow/tfjs";
import type {
  PlainParameter,
  SiteCapture,
  SiteGrad,
  WeightSite,
} from "../layers/mod.ts";
import type {
  CoefficientLayerSummary,
  Counters,
  EngineEvent,
  Phase,
  StalenessEventData,
} from "../types.ts";
import type { UpdateRule } from "./update_rules.ts";
import type { ShardWeights } from "../parallel/shard_messages.ts";

/**
 * Host copies of tensors: at once where the backend reads synchronously,
 * later where it cannot (webgpu: WebGPU maps buffers only asynchronously).
 */
export type HostRead = Float32Array[] | Promise<Float32Array[]>;

/**
 * Runs `then` on `read`'s arrays: synchronously when they are already there,
 * so that a step driven with synchronous reads still completes inside its
 * caller's `tf.tidy`; otherwise once they arrive.
 */
export function afterRead<A, T>(
  read: A | Promise<A>,
  then: (host: A) => T,
): T | Promise<T> {
  return read instanceof Promise ? read.then(then) : then(read);
}

/** What one step hands the optimizer; valid only until the step completes. */
export interface StepContext {
  epoch: number;
  batch: number;
  /** Batches per epoch. */
  batches: number;
  /** Samples in this batch. */
  m: number;
  /** Per weight site: its inputs or patches. */
  captures: SiteCapture[];
  /** Per weight site: d(mean loss)/d(pre-activation), rows = samples x positions. */
  outGrads: tf.Tensor2D[];
  /**
   * Per plain parameter (batch-norm scale and shift), in the model's order:
   * its plain mean-loss gradient, which no optimizer preconditions.
   */
  plainGrads: tf.Tensor[];
  /**
   * Reads `tensors` to the host, the first call together with the loss.
   * Each call is a sync point: call it once per step unless a decision needs
   * what an earlier read returned (fngd's auto refresh). Continue with
   * {@link afterRead}: the trainer's reads are asynchronous.
   */
  readHost(tensors: tf.Tensor[]): HostRead;
  /**
   * Data-parallel steps only: the batch's direction per site, its shards'
   * parts added up. With a plan that did not gather, `captures` and
   * `outGrads` are this thread's shard alone and this is the only way to
   * the batch's direction.
   */
  shards?: ShardReduction;
}

/** How a data-parallel step adds up its shards' parts of a direction. */
export interface ShardReduction {
  /**
   * Per site `sum_i c_i g_i` over the batch, for `c` per site (the
   * coefficients of all M samples), or `"mean"`: the mean gradient.
   */
  directions(weights: ShardWeights): SiteGrad[] | Promise<SiteGrad[]>;
}

/**
 * What a data-parallel step asks of its shards up front: either each
 * shard's part of the direction with these per-sample weights (nothing
 * else is needed), or the whole batch's captures and output gradients
 * gathered, for steps that solve from Gram matrices; with `grams`, every
 * site's Gram is needed, and the shards compute it a few strips each.
 */
export type ShardPlan =
  | { gather: false; weights: ShardWeights }
  | { gather: true; grams: boolean };

/** Counters every optimizer keeps; only SMW and K-FAC ever increase them. */
export type CurvatureCounters = Omit<Counters, "steps">;

/** An optimizer behind the trainer's one interface. */
export interface Optimizer {
  /** Phase name of an epoch (1-based). */
  phase(epoch: number): Phase;
  /** Async work before a step, outside any tidy (e.g. loading cached coefficients). */
  beforeStep(epoch: number, batch: number): Promise<void>;
  /** Sets the learning rate of the following steps (the schedule's, per step). */
  setLearningRate(lr: number): void;
  /**
   * Preconditions and applies one step; synchronous unless it reads the
   * host (then it resolves after the read and the rest of the step).
   */
  step(ctx: StepContext): void | Promise<void>;
  /** Async work after a step (e.g. persisting new coefficients). */
  afterStep(): Promise<void>;
  /**
   * The shard plan of step (epoch, batch), after `beforeStep`; absent for
   * optimizers that cannot run data-parallel (they precondition from
   * whole-batch factors, which the shards would have to gather each step).
   */
  shardPlan?(epoch: number, batch: number, batches: number): ShardPlan;
  /** Makes all state that later epochs need durable; called before checkpoints. */
  flush(): Promise<void>;
  /** Summary of the coefficients solved during `epoch`, or undefined when none were. */
  coefficientSummary(epoch: number): CoefficientLayerSummary[] | undefined;
  /** fngd: how stale the reused coefficients were during `epoch`, or undefined. */
  stalenessSummary(epoch: number): StalenessEventData | undefined;
  /** Events produced during the last step (jitter incidents). */
  drainEvents(): EngineEvent[];
  readonly counters: CurvatureCounters;
  /** Slot and factor variables by self-describing name. */
  stateVariables(): Map<string, tf.Variable>;
  scalars(): Record<string, number>;
  loadScalars(scalars: Record<string, number>): void;
  dispose(): void;
}

/**
 * Defaults shared by every optimizer: no async work, no events, state that is
 * just the update rule's slots. Subclasses override what they add.
 */
export abstract class BaseOptimizer implements Optimizer {
  readonly counters: CurvatureCounters = {
    gram_computations: 0,
    solves: 0,
    jitter_retries: 0,
    refreshes: 0,
    staleness_probes: 0,
  };
  protected events: EngineEvent[] = [];
  /** Parameters outside any site, updated by the base rule (addPlain). */
  protected plain: readonly PlainParameter[] = [];

  constructor(
    readonly sites: WeightSite[],
    readonly rule: UpdateRule,
  ) {}

  abstract step(ctx: StepContext): void | Promise<void>;

  setLearningRate(lr: number): void {
    this.rule.lr = lr;
  }

  phase(_epoch: number): Phase {
    return "train";
  }

  beforeStep(_epoch: number, _batch: number): Promise<void> {
    return Promise.resolve();
  }

  afterStep(): Promise<void> {
    return Promise.resolve();
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  coefficientSummary(_epoch: number): CoefficientLayerSummary[] | undefined {
    return undefined;
  }

  stalenessSummary(_epoch: number): StalenessEventData | undefined {
    return undefined;
  }

  drainEvents(): EngineEvent[] {
    const e = this.events;
    this.events = [];
    return e;
  }

  /**
   * Hands the optimizer the trainable parameters outside any site: the
   * base rule updates them with their plain gradient, as kfac-pytorch does
   * with the parameters it does not precondition; their slots are created now.
   */
  addPlain(params: readonly PlainParameter[]): void {
    this.plain = params;
    this.rule.addPlain(params);
  }

  /**
   * Applies one direction per site, then each plain parameter's mean
   * gradient (`plainGrads`, aligned with them), through the update rule.
   */
  protected apply(
    directions: SiteGrad[],
    plainGrads: readonly tf.Tensor[],
  ): void {
    this.rule.beginStep();
    this.sites.forEach((s, i) => this.rule.apply(s, directions[i]));
    this.plain.forEach((p, i) => this.rule.applyPlain(p, plainGrads[i]));
  }

  stateVariables(): Map<string, tf.Variable> {
    return this.rule.slots();
  }

  scalars(): Record<string, number> {
    return this.rule.scalars();
  }

  loadScalars(s: Record<string, number>): void {
    this.rule.loadScalars(s);
  }

  dispose(): void {
    this.rule.dispose();
  }
}

/** First-order optimizers (`sgd`, `adamw`): the mean gradient through an update rule. */
export class FirstOrderOptimizer extends BaseOptimizer {
  shardPlan(): ShardPlan {
    return { gather: false, weights: "mean" };
  }

  step(ctx: StepContext): void | Promise<void> {
    if (ctx.shards) {
      return afterRead(
        ctx.shards.directions("mean"),
        (dirs) => this.apply(dirs, ctx.plainGrads),
      );
    }
    this.apply(
      this.sites.map((s) =>
        s.math.meanGradient(ctx.captures[s.index], ctx.outGrads[s.index])
      ),
      ctx.plainGrads,
    );
  }
}
