/** The training loop: epochs, batches, phases, events, checkpoints. */
import * as tf from "@tensorflow/tfjs";
import {
  type Checkpoint,
  type CoefficientStore,
  type Counters,
  type Dataset,
  EngineError,
  type EngineEvent,
  type EventSink,
  type NamedArray,
  type Phase,
  type TrainResult,
} from "./types.ts";
import type { JobSpec } from "./spec.ts";
export { SEED_STREAM } from "./rng.ts";
import { SequentialModel } from "./model.ts";
import type { SiteCapture } from "./layers/mod.ts";
import { stepGrads } from "./step_grads.ts";
import { ShardPool } from "./parallel/shard_pool.ts";
import { parallelStep } from "./parallel/parallel_step.ts";
import { parallelBlocker } from "./parallel/eligibility.ts";
import {
  createOptimizer,
  type Optimizer,
  resolveOptimizerSpec,
  type StepContext,
} from "./optim/mod.ts";
import { MemoryCoefficientStore } from "./coefficient_store.ts";
import { deriveSeed, Rng, SEED_STREAM } from "./rng.ts";
import {
  type BatchPlan,
  type HostSplit,
  planBatches,
  type SplitData,
  splitData,
} from "./batches.ts";
import { evaluateAsync, type Evaluation } from "./evaluate.ts";
import { exportModel, type ModelArtifacts } from "./export.ts";
import { learningRateAt } from "./schedule.ts";
import {
  defaultLearningRate,
  rangeTestSteps,
  runRangeTest,
} from "./lr_range.ts";
import { bleuOfRows, bleuOfSources, tryTokenizer } from "./translate.ts";
import type { Tokenizer } from "./data/tokenizer.ts";

/** How a caller plugs into one training run. */
export interface TrainOptions {
  /** Where FNGD coefficients live; default in memory. */
  store?: CoefficientStore;
  /** Receives step, epoch, coefficients, checkpoint, log and result events. */
  onEvent?: EventSink;
  /**
   * Persists a checkpoint; awaited at each epoch end before the `checkpoint`
   * event. `exportModel` gives the model at this epoch as `saveModel` would
   * (only when called: it costs a TF.js mirror of the model).
   */
  onCheckpoint?: (
    checkpoint: Checkpoint,
    exportModel: () => Promise<ModelArtifacts>,
  ) => Promise<void>;
  /** Receives the trained model in TF.js layers format after the last epoch. */
  saveModel?: (artifacts: ModelArtifacts) => Promise<void>;
  /** Checked at every step; training stops within one step with `cancelled`. */
  signal?: AbortSignal;
  /** Continue after this checkpoint's epoch. */
  resumeFrom?: Checkpoint;
  /** Minimum milliseconds between `step` events (default 500). */
  stepEventIntervalMs?: number;
  /** Clock for seconds and throttling; tests may replace it. */
  now?: () => number;
  /**
   * Threads for one run's steps (default 1): this one plus `threads - 1`
   * data-parallel shard workers (parallel/), where the run allows; a run
   * that cannot says why in a `log` event and trains on one.
   */
  threads?: number;
}

export { meanCrossEntropy, meanLoss } from "./loss.ts";

/**
 * Trains `spec.model` on `data` (samples, or token sequences) with `spec.optimizer`.
 * @throws {EngineError} on invalid specs, divergence or cancellation.
 */
export async function train(
  spec: JobSpec,
  data: Dataset,
  options: TrainOptions = {},
): Promise<TrainResult> {
  const run = new TrainingRun(spec, data, options);
  try {
    return await run.execute();
  } finally {
    run.dispose();
  }
}

/** The optimizer counters the run adds up step by step. */
const CURVATURE_COUNTERS = [
  "gram_computations",
  "solves",
  "jitter_retries",
  "refreshes",
  "staleness_probes",
] as const;

/**
 * The checkpoint scalar holding the lr that `lr: "auto"` chose, so that a
 * resumed run trains on with it instead of testing again.
 */
export const AUTO_LR_SCALAR = "lr/auto";

class TrainingRun {
  readonly model: SequentialModel;
  readonly split: SplitData;
  readonly plan: BatchPlan;
  readonly counters: Counters = {
    steps: 0,
    gram_computations: 0,
    solves: 0,
    jitter_retries: 0,
    refreshes: 0,
    staleness_probes: 0,
  };
  readonly seconds: Partial<Record<Phase, number>> = {};
  readonly now: () => number;
  /** Sequences with a valid vocabulary: what BLEU decodes with. */
  readonly tokenizer?: Tokenizer;
  readonly #data: Dataset;
  #lastStepEvent = -Infinity;
  #lastYield = 0;
  /** Built once the lr is known (after the range test of `lr: "auto"`). */
  #optimizer?: Optimizer;
  /** The optimizer's lr: the spec's, or the one the range test chose. */
  #lr = NaN;
  /** Data-parallel shard workers, when the run trains on several threads. */
  #pool?: ShardPool;

  constructor(
    readonly spec: JobSpec,
    data: Dataset,
    readonly options: TrainOptions,
  ) {
    this.now = options.now ?? (() => performance.now());
    this.#data = data;
    if (data.sequences) {
      this.tokenizer = tryTokenizer(data.sequences.vocabulary);
    }
    this.model = new SequentialModel(
      spec.model,
      deriveSeed(spec.seed, SEED_STREAM.init),
    );
    try {
      this.split = splitData(
        data,
        spec,
        this.model.inputShape,
        this.model.outputUnits,
      );
    } catch (err) {
      this.model.dispose();
      throw err;
    }
    this.plan = planBatches(this.split.train.count, spec.batch_size);
  }

  get optimizer(): Optimizer {
    if (!this.#optimizer) throw new Error("the optimizer is not built yet");
    return this.#optimizer;
  }

  async emit(event: EngineEvent): Promise<void> {
    await this.options.onEvent?.(event);
  }

  async execute(): Promise<TrainResult> {
    const resume = this.options.resumeFrom;
    this.#lr = await this.#resolveLearningRate(resume);
    this.#optimizer = createOptimizer(
      resolveOptimizerSpec(this.spec.optimizer, this.#lr),
      this.model.trainable,
      this.options.store ?? new MemoryCoefficientStore(),
      this.model.plain,
    );
    const startEpoch = resume ? this.#restore(resume) + 1 : 1;
    this.#pool = await this.#startShards();
    let trainLoss = NaN;
    let val: Evaluation | undefined;
    let valBleu: number | undefined;
    for (let epoch = startEpoch; epoch <= this.spec.epochs; epoch++) {
      const phase = this.optimizer.phase(epoch);
      const t0 = this.now();
      trainLoss = await this.#runEpoch(epoch, phase);
      const seconds = (this.now() - t0) / 1000;
      this.seconds[phase] = (this.seconds[phase] ?? 0) + seconds;
      val = (await this.#evaluate(this.split.val)) ?? val;
      valBleu = (await this.#valBleu()) ?? valBleu;
      await this.emit({
        type: "epoch",
        data: {
          epoch,
          phase,
          steps: this.plan.count,
          seconds,
          train_loss: trainLoss,
          ...this.#valMetrics(val),
          ...this.#bleuField("val_bleu", valBleu),
          lr: this.#learningRate(epoch, this.plan.count - 1),
        },
      });
      const summary = this.optimizer.coefficientSummary(epoch);
      if (summary) {
        await this.emit({ type: "coefficients", data: { layers: summary } });
      }
      const staleness = this.optimizer.stalenessSummary(epoch);
      if (staleness) await this.emit({ type: "staleness", data: staleness });
      await this.optimizer.flush();
      if (this.options.onCheckpoint) {
        await this.options.onCheckpoint(
          await this.#checkpoint(epoch),
          () => this.#export(),
        );
        await this.emit({ type: "checkpoint", data: { epoch } });
      }
    }
    if (Number.isNaN(trainLoss)) {
      // Resumed after the last epoch: report the checkpoint's model.
      val = await this.#evaluate(this.split.val);
      valBleu = await this.#valBleu();
    }
    const result: TrainResult = {
      final: {
        train_loss: trainLoss,
        ...this.#valMetrics(val),
        ...this.#bleuField("val_bleu", valBleu),
      },
      counters: { ...this.counters },
      seconds_by_phase: { ...this.seconds },
    };
    const test = await this.#evaluate(this.split.test);
    if (test?.accuracy != null) result.final.test_accuracy = test.accuracy;
    if (test?.exactMatch != null) {
      result.final.test_exact_match = test.exactMatch;
    }
    if (test?.reconstructionError != null) {
      result.final.test_reconstruction_error = test.reconstructionError;
    }
    const testBleu = await this.#testBleu();
    if (testBleu !== undefined) result.final.test_bleu = testBleu;
    if (this.options.saveModel) {
      await this.options.saveModel(await this.#export());
    }
    await this.emit({ type: "result", data: result });
    return result;
  }

  /** The model as it is now, in TF.js layers format. */
  #export(): Promise<ModelArtifacts> {
    return exportModel(this.model, {
      loss: this.spec.loss,
      vocabulary: this.tokenizer?.vocabulary,
    });
  }

  /**
   * BLEU-4 of greedy decoding on the first `val_bleu_rows` validation rows
   * (sources decoded from the rows); undefined without sequences, a valid
   * vocabulary, validation rows or `val_bleu_rows`.
   */
  #valBleu(): Promise<number | undefined> | undefined {
    const val = this.split.val;
    const rows = this.spec.val_bleu_rows;
    if (!this.tokenizer || !val || !val.sequences || rows === 0) {
      return undefined;
    }
    return bleuOfRows(
      this.model,
      this.tokenizer,
      val.x as Int32Array,
      val.targetWidth,
      rows,
    );
  }

  /** BLEU-4 of greedy decoding on every test pair, against its target text. */
  #testBleu(): Promise<number | undefined> | undefined {
    const pairs = this.#data.sequences?.test?.pairs;
    if (!this.tokenizer || !pairs || pairs.length === 0) return undefined;
    return bleuOfSources(
      this.model,
      this.tokenizer,
      pairs.map((p) => p.source),
      pairs.map((p) => p.target),
    );
  }

  /** `{ [name]: bleu }` for sequences with a tokenizer, else nothing. */
  #bleuField(
    name: "val_bleu",
    bleu: number | undefined,
  ): { val_bleu?: number | null } {
    return this.tokenizer ? { [name]: bleu ?? null } : {};
  }

  async #evaluate(
    split: HostSplit | undefined,
  ): Promise<Evaluation | undefined> {
    return split && await evaluateAsync(this.model, split, this.spec.loss);
  }

  /**
   * The validation fields of epoch and result events: accuracy for
   * classification, and for autoencoders `val_accuracy: null` (the field
   * stays, as epoch_metrics stores it) plus `val_reconstruction_error`.
   */
  #valMetrics(val: Evaluation | undefined): {
    val_loss: number | null;
    val_accuracy: number | null;
    val_reconstruction_error?: number | null;
    val_exact_match?: number | null;
  } {
    const metrics = {
      val_loss: val?.loss ?? null,
      val_accuracy: val?.accuracy ?? null,
    };
    if (this.split.train.sequences) {
      return { ...metrics, val_exact_match: val?.exactMatch ?? null };
    }
    return this.spec.target === "input"
      ? {
        ...metrics,
        val_reconstruction_error: val?.reconstructionError ?? null,
      }
      : metrics;
  }

  /** The schedule's learning rate at step `step` (0-based) of `epoch`. */
  #learningRate(epoch: number, step: number): number {
    return learningRateAt(
      this.spec.schedule,
      this.#lr,
      (epoch - 1) * this.plan.count + step,
      { stepsPerEpoch: this.plan.count, epochs: this.spec.epochs },
    );
  }

  async #runEpoch(epoch: number, phase: Phase): Promise<number> {
    const order = new Rng(deriveSeed(this.spec.seed, SEED_STREAM.order, epoch))
      .permutation(this.plan.count);
    let lossSum = 0;
    let samples = 0;
    for (let s = 0; s < order.length; s++) {
      await this.#yieldToEventLoop();
      if (this.options.signal?.aborted) {
        throw new EngineError(
          "cancelled",
          `training cancelled at epoch ${epoch}, step ${s + 1}`,
        );
      }
      const batch = order[s];
      const lr = this.#learningRate(epoch, s);
      this.optimizer.setLearningRate(lr);
      await this.optimizer.beforeStep(epoch, batch);
      const before = { ...this.optimizer.counters };
      const loss = this.#pool
        ? await parallelStep({
          pool: this.#pool,
          model: this.model,
          loss: this.spec.loss,
          split: this.split.train,
          optimizer: this.optimizer,
          epoch,
          batch,
          batches: this.plan.count,
          start: this.plan.start(batch),
          m: this.plan.size(batch),
          seed: deriveSeed(this.spec.seed, SEED_STREAM.dropout, epoch, batch),
        })
        : await this.#step(this.optimizer, epoch, batch);
      await this.optimizer.afterStep();
      this.counters.steps += 1;
      for (const k of CURVATURE_COUNTERS) {
        this.counters[k] += this.optimizer.counters[k] - before[k];
      }
      for (const e of this.optimizer.drainEvents()) await this.emit(e);
      if (!Number.isFinite(loss)) {
        throw new EngineError(
          "diverged",
          `loss became ${loss} at epoch ${epoch}, step ${
            s + 1
          }; lower lr or raise damping`,
        );
      }
      const m = this.plan.size(batch);
      lossSum += loss * m;
      samples += m;
      const t = this.now();
      const interval = this.options.stepEventIntervalMs ?? 500;
      if (t - this.#lastStepEvent >= interval || s === order.length - 1) {
        this.#lastStepEvent = t;
        await this.emit({
          type: "step",
          data: { epoch, step: s + 1, steps: order.length, loss, phase, lr },
        });
      }
    }
    return lossSum / samples;
  }

  /**
   * The shard workers for `threads > 1`, or undefined: one thread was
   * asked for, or the run cannot be split (a `log` event says why).
   */
  async #startShards(): Promise<ShardPool | undefined> {
    const threads = this.options.threads ?? 1;
    if (threads <= 1) return undefined;
    const blocker = parallelBlocker(
      this.spec.model,
      this.model,
      this.optimizer,
      this.spec.optimizer.name,
    );
    if (blocker) {
      await this.emit({
        type: "log",
        data: {
          level: "info",
          message: `training on 1 thread, not ${threads}: ${blocker}`,
        },
      });
      return undefined;
    }
    const t = this.split.train;
    return await ShardPool.start(threads - 1, {
      backend: "wasm",
      model: this.spec.model,
      seed: deriveSeed(this.spec.seed, SEED_STREAM.init),
      loss: this.spec.loss,
      split: {
        x: t.x,
        targets: t.targets,
        count: t.count,
        inputShape: t.inputShape,
        targetWidth: t.targetWidth,
      },
    });
  }

  /**
   * Steps are synchronous and their awaits resolve as microtasks, so a long
   * epoch would starve timers (a worker's heartbeat, the abort it triggers).
   * Yield a macrotask turn every ~50 ms; it costs well under 1% of a step.
   */
  async #yieldToEventLoop(): Promise<void> {
    const t = this.now();
    if (t - this.#lastYield < 50) return;
    this.#lastYield = t;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }

  /**
   * The lr to train with: the spec's number; for `"auto"` the one a resumed
   * checkpoint recorded, else the range test's choice.
   */
  async #resolveLearningRate(resume?: Checkpoint): Promise<number> {
    const lr = this.spec.optimizer.lr;
    if (lr !== "auto") return lr;
    if (!resume) return await this.#rangeTest();
    const recorded = resume.scalars[AUTO_LR_SCALAR];
    if (typeof recorded !== "number" || !(recorded > 0)) {
      throw new EngineError(
        "invalid_checkpoint",
        `checkpoint of epoch ${resume.epoch} has no ${AUTO_LR_SCALAR} scalar, which a run with lr "auto" resumes with; it was written by a run with a numeric lr`,
      );
    }
    return recorded;
  }

  /**
   * The learning-rate range test from the initial weights, with a throwaway
   * optimizer and coefficient store, so that the run's store, counters and
   * events see nothing of it but the `lr_range` event. Batches cycle in each
   * epoch's seeded order, as training would take them. The weights
   * (running statistics included) are put back afterwards.
   */
  async #rangeTest(): Promise<number> {
    const reference = defaultLearningRate(this.spec.optimizer.name);
    const initial = await readVariables(this.model.variables());
    const optimizer = createOptimizer(
      resolveOptimizerSpec(this.spec.optimizer, reference),
      this.model.trainable,
      new MemoryCoefficientStore(),
      this.model.plain,
    );
    const count = this.plan.count;
    let order: ArrayLike<number> = [];
    try {
      const data = await runRangeTest({
        reference,
        steps: rangeTestSteps(count),
        step: async (lr, index) => {
          await this.#yieldToEventLoop();
          if (this.options.signal?.aborted) {
            throw new EngineError(
              "cancelled",
              `training cancelled in the lr range test, step ${index + 1}`,
            );
          }
          const epoch = Math.floor(index / count) + 1;
          if (index % count === 0) {
            order = new Rng(
              deriveSeed(this.spec.seed, SEED_STREAM.order, epoch),
            )
              .permutation(count);
          }
          const batch = order[index % count];
          optimizer.setLearningRate(lr);
          try {
            await optimizer.beforeStep(epoch, batch);
            const loss = await this.#step(optimizer, epoch, batch);
            await optimizer.afterStep();
            return loss;
          } catch (err) {
            // Too high an lr: the curvature went non-finite before the loss.
            if (
              err instanceof EngineError &&
              err.code === "non_finite_coefficients"
            ) return NaN;
            throw err;
          } finally {
            optimizer.drainEvents();
          }
        },
      });
      await this.emit({ type: "lr_range", data });
      return data.chosen_lr;
    } finally {
      optimizer.dispose();
      assignVariables(this.model.variables(), initial, "weights");
    }
  }

  /** Forward, backward to the probes, precondition, apply; returns the batch loss. */
  async #step(
    optimizer: Optimizer,
    epoch: number,
    batch: number,
  ): Promise<number> {
    const start = this.plan.start(batch);
    const m = this.plan.size(batch);
    let loss = NaN;
    let captures: SiteCapture[] = [];
    // A scope, not tf.tidy: the host reads are asynchronous (webgpu can read
    // its buffers no other way), and a tidy cannot span an await. Steps run
    // one at a time, so every tensor made meanwhile is this step's.
    tf.engine().startScope();
    try {
      const { x: xb, y: yb } = this.split.train.rows(start, m);
      // Dropout masks from (seed, epoch, batch): a resume redraws them.
      const grads = stepGrads(
        this.model,
        this.spec.loss,
        xb,
        yb,
        deriveSeed(this.spec.seed, SEED_STREAM.dropout, epoch, batch),
      );
      captures = grads.captures;
      const { value, outGrads } = grads;
      let read = false;
      const ctx: StepContext = {
        epoch,
        batch,
        batches: this.plan.count,
        m,
        captures,
        outGrads,
        plainGrads: grads.plainGrads,
        readHost: async (tensors) => {
          if (read) {
            if (tensors.length === 0) return [];
            const flat = tf.concat(tensors.map((t) => tf.reshape(t, [-1])));
            const all = await flat.data() as Float32Array;
            let at = 0;
            return tensors.map((t) => all.subarray(at, at += t.size));
          }
          read = true;
          // One transfer for the loss and everything the optimizer needs.
          const flat = tf.concat([
            tf.reshape(value, [1]),
            ...tensors.map((t) => tf.reshape(t, [-1])),
          ]);
          const all = await flat.data() as Float32Array;
          loss = all[0];
          let offset = 1;
          return tensors.map((t) => {
            const part = all.subarray(offset, offset + t.size);
            offset += t.size;
            return part;
          });
        },
      };
      await optimizer.step(ctx);
      if (!read) loss = (await value.data() as Float32Array)[0];
    } finally {
      tf.engine().endScope();
      for (const c of captures) c.inputs.dispose();
    }
    return loss;
  }

  async #checkpoint(epoch: number): Promise<Checkpoint> {
    return {
      epoch,
      seed: this.spec.seed,
      weights: await readVariables(this.model.variables()),
      optimizer_state: await readVariables(this.optimizer.stateVariables()),
      counters: { ...this.counters },
      seconds_by_phase: { ...this.seconds },
      scalars: {
        ...this.optimizer.scalars(),
        ...(this.spec.optimizer.lr === "auto"
          ? { [AUTO_LR_SCALAR]: this.#lr }
          : {}),
      },
      ...(this.tokenizer ? { vocabulary: this.tokenizer.vocabulary } : {}),
    };
  }

  /** Loads a checkpoint; returns its epoch. */
  #restore(cp: Checkpoint): number {
    assignVariables(this.model.variables(), cp.weights, "weights");
    assignVariables(
      this.optimizer.stateVariables(),
      cp.optimizer_state,
      "optimizer_state",
    );
    this.optimizer.loadScalars(cp.scalars);
    Object.assign(this.counters, cp.counters);
    Object.assign(this.seconds, cp.seconds_by_phase);
    return cp.epoch;
  }

  dispose(): void {
    this.#pool?.close();
    this.#optimizer?.dispose();
    this.model.dispose();
  }
}

async function readVariables(
  vars: Map<string, tf.Variable>,
): Promise<Record<string, NamedArray>> {
  const out: Record<string, NamedArray> = {};
  for (const [name, v] of vars) {
    out[name] = {
      shape: [...v.shape],
      data: await v.data() as Float32Array,
    };
  }
  return out;
}

function assignVariables(
  vars: Map<string, tf.Variable>,
  arrays: Record<string, NamedArray>,
  what: string,
): void {
  for (const [name, v] of vars) {
    const a = arrays[name];
    if (!a || a.data.length !== v.size) {
      throw new EngineError(
        "invalid_checkpoint",
        `checkpoint ${what} lacks ${name} of shape [${v.shape}]${
          a ? `, found [${a.shape}]` : ""
        }`,
      );
    }
    tf.tidy(() => v.assign(tf.tensor(a.data, v.shape)));
  }
}
