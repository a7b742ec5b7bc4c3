/**
 * What a layer kind is. Each kind (`dense`, `conv2d`, ...) is one object in
 * two halves, split at the TF.js boundary because the API process admits jobs
 * without ever loading TF.js:
 *
 * - {@link LayerPlanner} (`<kind>_plan.ts`, pure): the zod spec, shape
 *   inference and validation, and the memory and FLOP terms of the cost
 *   estimate;
 * - {@link LayerKind} (`<kind>.ts`): the planner plus `build`, which creates
 *   and initialises the variables and returns a {@link Layer} with its forward
 *   pass, its weight sites and its TF.js export.
 *
 * Curvature math is split as kfac-pytorch splits module helpers from layer
 * state: a {@link WeightSite} names one preconditioned weight and points at
 * its stateless {@link SiteMath}; the optimizers own the per-site state
 * (coefficients, factors, inverses, slots), keyed by the site's index and name.
 *
 * Type-only imports: this file loads nothing at run time.
 */
import type * as tf from "@tensorflow/tfjs";
import type { z } from "zod";
import type { Rng } from "../rng.ts";
import type { EngineError } from "../types.ts";
import type { PatchGeometry } from "./geometry.ts";
import type { LayerSpec } from "./plans.ts";

/**
 * The shape of one weight site as planned: `rows (M*T, fanIn) @ kernel
 * (fanIn, units) + bias`. An embedding's rows are one-hot token ids (never
 * built): its fan-in is the vocabulary, and it has no bias.
 */
export interface SiteShape {
  /** Fan-in without the bias. */
  fanIn: number;
  units: number;
  /**
   * Output positions per sample: 1 for dense on vectors, outH * outW for
   * conv, the sequence length T for sequence layers.
   */
  positions: number;
  /** Shape of one sample's pre-activation: the probe's shape without the batch. */
  output: number[];
  /** How rows are cut from an image (conv patches); absent when the rows are the inputs. */
  geometry?: PatchGeometry;
  /** True for a site without a bias (embeddings); absent means it has one. */
  withoutBias?: boolean;
  /**
   * Rows that are one-hot and never built: token ids (`embedding`) or
   * positions (`position_embedding`); absent for rows that are inputs or
   * patches. Their Gram formulas and costs are embedding_site.ts's.
   */
  oneHot?: "tokens" | "positions";
}

/** A weight site as planned, numbered among all sites of the model. */
export interface PlannedSite extends SiteShape {
  /** Index among all sites: the `layer` of coefficients and events. */
  index: number;
  /** Self-describing prefix of state names, e.g. `dense_1`. */
  name: string;
  /** Position of the owning layer in `model.layers`. */
  layer: number;
}

/** What every planned layer records; kinds add their own fields. */
export interface PlannedLayerBase<T extends string = string> {
  type: T;
  /** Position in `model.layers`. */
  index: number;
  /** Shape of one sample entering the layer. */
  input: number[];
  /** Whether a weight site lies upstream, so the layer's input needs a gradient. */
  inputGradient: boolean;
  /** Shape of one sample leaving it. */
  output: number[];
  /**
   * The weight sites this layer owns, in forward order (none for pools); a
   * block owns every site nested in it.
   */
  sites: readonly PlannedSite[];
  /**
   * Layers nested in this one, in forward order (a residual block's `layers`,
   * then its `shortcut`); absent for every other kind. The cost estimate
   * walks them: a block's own terms count only what it adds.
   */
  children?: readonly PlannedLayerBase[];
  /**
   * Floats of its own trainable parameters outside any weight site (a batch
   * norm's scale and shift); absent for none.
   */
  plainParams?: number;
  /** Floats of its own non-trainable variables (running statistics); absent for none. */
  stateFloats?: number;
}

/** What a planner returns: its plan less the fields shape inference fills in from the context. */
export type PlanFields<P extends PlannedLayerBase> = P extends PlannedLayerBase
  ? Omit<P, "index" | "input" | "inputGradient">
  : never;

/** A nested list of layers as planned: a residual block's `layers` or `shortcut`. */
export interface PlannedSequence {
  layers: PlannedLayerBase[];
  /** Shape of one sample leaving the last layer (the input's, for an empty list). */
  output: number[];
}

/** What shape inference hands a planner besides the layer's spec. */
export interface PlanContext {
  /** Position of the layer in its list (`model.layers`, or a block's list). */
  index: number;
  /**
   * Self-describing name of the layer, prefixed by the blocks it sits in
   * (`residual_1/batch_norm_2`): the prefix of its variables' names.
   */
  name: string;
  /** Shape of one sample entering the layer. */
  input: readonly number[];
  /** Whether a weight site lies upstream, so the layer's input needs a gradient. */
  inputGradient: boolean;
  /**
   * Numbers a weight site of this layer and names it after the layer
   * (`dense_1`), or `dense_1/<part>` for one of several sites.
   */
  site(shape: SiteShape, part?: string): PlannedSite;
  /** An `invalid_spec` error naming this layer, or its `field`. */
  fail(message: string, field?: string): EngineError;
  /**
   * Plans `specs` (this layer's `field`, e.g. a block's `layers`) on this
   * layer's input: their sites are numbered next, their names prefixed with
   * this layer's, and their errors name `<this layer>.<field>[i]`.
   * @throws {EngineError} `invalid_spec` from a nested layer.
   */
  sequence(specs: readonly LayerSpec[], field: string): PlannedSequence;
}

/** FLOPs of one layer over a batch (a multiply-add counts 2). */
export interface LayerFlops {
  forward: number;
  backward: number;
}

/**
 * The pure half of a layer kind: everything admission needs, without TF.js.
 * `Spec` is the kind's zod schema, `P` its planned layer.
 */
export interface LayerPlanner<
  Spec extends z.ZodType<{ type: string }>,
  P extends PlannedLayerBase,
> {
  /** The `type` the spec union discriminates on. */
  readonly type: z.output<Spec>["type"];
  /** The kind's zod schema: one member of the layer spec union. */
  readonly spec: Spec;
  /** Whether its output may be the model's class logits (the last layer). */
  readonly logits: boolean;
  /**
   * Infers the output shape and plans the weight sites.
   * @throws {EngineError} `invalid_spec` from `ctx.fail`, naming the field at fault.
   */
  plan(spec: z.output<Spec>, ctx: PlanContext): PlanFields<P>;
  /**
   * Floats the forward pass over `m` rows keeps alive inside a step's tidy;
   * with `training`, also its probes and what autograd keeps for backward.
   */
  forwardFloats(plan: P, m: number, training: boolean): number;
  /**
   * Floats backward allocates beyond one same-sized gradient per forward
   * tensor; `inputGradient` when a weight site lies upstream.
   */
  backwardFloats(plan: P, m: number, inputGradient: boolean): number;
  /** FLOPs of forward and backward over `m` rows. */
  flops(plan: P, m: number, inputGradient: boolean): LayerFlops;
}

/** One site's inputs from a training forward pass; owned by the trainer's step. */
export interface SiteCapture {
  /**
   * Dense: inputs (M*T, fan_in). Conv: patches (M*T, fan_in). Embeddings:
   * the ids of the one-hot rows, (M*T, 1) int32 (token ids, or positions).
   */
  inputs: tf.Tensor2D;
  /** Output positions per sample (1 for dense). */
  positions: number;
  /** `inputs` transposed, filled on first use (linear_site.ts). */
  inputsT?: tf.Tensor2D;
  /** `[inputs, 1]`, the bias's input column appended, filled on first use. */
  withOnes?: tf.Tensor2D;
  /** K itself, when data-parallel shards assembled it from their strips. */
  gram?: tf.Tensor2D;
}

/** A gradient-shaped direction for one site; no `bias` for a bias-less site. */
export interface SiteGrad {
  kernel: tf.Tensor2D;
  bias?: tf.Tensor1D;
}

/**
 * Stateless curvature math of one kind of weight site, from its capture and
 * `e`, the gradient of the mean batch loss with respect to its pre-activation
 * (rows = samples x positions). Callers run it inside the step's `tf.tidy`.
 */
export interface SiteMath {
  /** The mean-loss gradient (SGD's direction). */
  meanGradient(cap: SiteCapture, e: tf.Tensor2D): SiteGrad;
  /** `sum_i c_i g_i`; `scaled` is the (M, 1) column `M c`. */
  weightedGradient(
    cap: SiteCapture,
    e: tf.Tensor2D,
    scaled: tf.Tensor2D,
  ): SiteGrad;
  /** The per-sample Gram matrix `K = U^T U` (M x M), bias included. */
  gram(cap: SiteCapture, e: tf.Tensor2D, m: number): tf.Tensor2D;
  /**
   * The lower strip of K at columns [lo, hi): its rows [lo, M), as an
   * (M - lo) x (hi - lo) block, from the whole batch's host rows (`inputs`
   * M x k, `outGrad` M x units), for sites with one position per sample.
   * Data-parallel shards compute K's lower triangle a few strips each, on
   * the host kernel (`hostRowProductsAvailable`). Absent where a strip
   * costs as much as the whole.
   */
  gramStrip?(
    inputs: Float32Array,
    outGrad: Float32Array,
    m: number,
    lo: number,
    hi: number,
  ): Float32Array;
  /**
   * A per-sample proxy of K's diagonal, (M,), from row norms only:
   * `sum_t (||a_it||^2 + 1) ||e_it||^2` (no `+ 1` without a bias; `||a||` is
   * 1 for one-hot rows). Exact for one position, up to the factor M^2; the
   * `t = s` terms of `||g_i||^2` otherwise. Cheap enough for every step.
   */
  gramDiagonal(cap: SiteCapture, e: tf.Tensor2D, m: number): tf.Tensor1D;
  /**
   * Widths of K-FAC's input factor A and output factor G; `diagonalA` when
   * A is diagonal (one-hot rows) and kept as its (1, a) diagonal.
   */
  kfacSizes(site: WeightSite): { a: number; g: number; diagonalA: boolean };
  /** This batch's K-FAC factors A (or its (1, a) diagonal) and G. */
  kfacFactors(
    cap: SiteCapture,
    e: tf.Tensor2D,
    m: number,
  ): { a: tf.Tensor2D; g: tf.Tensor2D };
  /** K-FAC's direction `A^-1 grad G^-1` (`aInv` a (1, a) diagonal when A is). */
  kfacPrecondition(
    grad: SiteGrad,
    aInv: tf.Tensor2D,
    gInv: tf.Tensor2D,
  ): SiteGrad;
  /**
   * The same direction from the capture, where the site can choose a
   * cheaper product order than forming the mean gradient first; absent
   * where it cannot, and then K-FAC preconditions the mean gradient.
   */
  kfacDirection?(
    cap: SiteCapture,
    e: tf.Tensor2D,
    aInv: tf.Tensor2D,
    gInv: tf.Tensor2D,
  ): SiteGrad;
}

/** A built weight site: what the optimizers precondition and update. */
export interface WeightSite extends PlannedSite {
  /**
   * Kernel as a 2-D matrix (fan_in, units); conv kernels are (kh*kw*cin,
   * filters), embedding tables (vocab, dim).
   */
  kernel: tf.Variable<tf.Rank.R2>;
  /** Absent for a bias-less site (embeddings). */
  bias?: tf.Variable<tf.Rank.R1>;
  /** Its stateless curvature math. */
  math: SiteMath;
}

/**
 * A trainable parameter that no optimizer preconditions (batch-norm scale
 * and shift): it takes the base update rule with the plain mean gradient,
 * as in kfac-pytorch.
 */
export interface PlainParameter {
  /** Self-describing name, e.g. `batch_norm_1/gamma`; its slots add a suffix. */
  name: string;
  variable: tf.Variable;
}

/**
 * One forward pass. `train` uses batch statistics (and updates the running
 * ones) and drops units; `eval` uses running statistics and drops nothing.
 * Probes and captures are the optimizers' business and independent of mode.
 */
export interface ForwardPass {
  mode: "train" | "eval";
  /**
   * Train mode: the seed of this step's dropout masks, derived from (run
   * seed, epoch, batch) so a resumed run draws the same masks; each dropout
   * layer derives its own stream from it.
   */
  seed?: number;
  /** Per site, by index: a zero tensor added to its pre-activation. */
  probes?: readonly tf.Tensor[];
  /** Receives each site's inputs (or patches), by site index; kept for the caller. */
  captures?: SiteCapture[];
  /**
   * Token models only: (M, T) float, 1 where the input token is padding
   * (id 0). Attention masks those keys out; set by the model from its input.
   */
  padding?: tf.Tensor2D;
}

/**
 * Where a layer puts its TF.js layers-format counterpart: applied to the
 * symbolic tensor of its input, as in a functional `tf.model`. A sequential
 * export ignores the tensors and appends the layers in order.
 */
export interface ExportSink {
  /** `{ inputShape }` for a sequential model's first TF.js layer, `{}` otherwise. */
  inputConfig(): { inputShape?: number[] };
  /**
   * Applies `layer` to `x`; `weights` gives its weights in TF.js order,
   * called in a tidy once the whole model is built.
   */
  apply(
    layer: tf.layers.Layer,
    x: tf.SymbolicTensor | tf.SymbolicTensor[],
    weights?: () => tf.Tensor[],
  ): tf.SymbolicTensor;
}

/** A built layer: its variables and sites, its forward pass, its export. */
export interface Layer {
  /** The weight sites it owns, in forward order. */
  readonly sites: readonly WeightSite[];
  /** Its trainable parameters outside any site, in forward order. */
  readonly plain: readonly PlainParameter[];
  /**
   * Every variable it owns by self-describing name, in checkpoint order,
   * non-trainable ones (running statistics) included.
   */
  variables(): [string, tf.Variable][];
  /**
   * Its output for a batch. With `pass.probes`, adds each site's probe to its
   * pre-activation and captures its inputs; without, stays differentiable in
   * the weights (evaluation, reference gradients).
   */
  forward(x: tf.Tensor, pass: ForwardPass): tf.Tensor;
  /** Applies its TF.js counterpart(s) to `x` and queues their weights. */
  exportTo(sink: ExportSink, x: tf.SymbolicTensor): tf.SymbolicTensor;
}

/** What building a layer needs besides its plan. */
export interface BuildContext {
  /** The model's initialisation stream, consumed in forward order. */
  rng: Rng;
  /** `model.init`: undefined picks He for relu layers, Glorot otherwise. */
  init: "he" | "glorot" | undefined;
  /** Builds a nested planned layer (a block's) with this same context. */
  build(plan: PlannedLayerBase): Layer;
}

/** A whole layer kind: the planner and the tensor side. */
export interface LayerKind<
  Spec extends z.ZodType<{ type: string }>,
  P extends PlannedLayerBase,
> extends LayerPlanner<Spec, P> {
  /** Creates and initialises the variables of a planned layer. */
  build(plan: P, ctx: BuildContext): Layer;
}
