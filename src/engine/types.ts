/**
 * The engine's contracts with the outside world: datasets in, events and
 * checkpoints out, coefficients through a store. No HTTP, SQL or env here.
 */

/** Error codes the engine raises; callers map them to HTTP statuses or exit codes. */
export type EngineErrorCode =
  | "invalid_spec"
  | "invalid_data"
  | "data_not_found"
  | "backend_unavailable"
  | "diverged"
  | "non_finite_coefficients"
  | "cancelled"
  | "invalid_checkpoint"
  | "too_large";

/** A JSON path into the job spec, e.g. `["model", "layers", 3, "units"]`. */
export type SpecPath = readonly (string | number)[];

/** The one error class of the engine; `code` says what went wrong. */
export class EngineError extends Error {
  /** For `invalid_spec`: the spec field at fault, when one is. */
  readonly path?: SpecPath;
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    options?: ErrorOptions & { path?: SpecPath },
  ) {
    super(message, options);
    this.name = "EngineError";
    this.path = options?.path;
  }
}

/**
 * An in-memory dataset; samples are row-major float32. Labels are the
 * targets of classification; an autoencoder's targets are the samples.
 *
 * A token-sequence dataset (parallel text, synthetic-translation) has
 * `sequences`, and its sample fields are filled so that generic code (counts,
 * shape checks, admission, the seeded split) works unchanged: `x` holds the
 * token ids as float32 (exact below 2^24), `sampleShape` is `[T]`, `classes`
 * is the vocabulary size (what the output layer must cover), and `y` is all
 * zeros (unused).
 */
export interface Dataset {
  /** Features, `samples * prod(sampleShape)` values. */
  x: Float32Array;
  /** Class labels in `[0, classes)`. */
  y: Int32Array;
  /** Shape of one sample, e.g. `[784]` or `[28, 28, 1]`. */
  sampleShape: number[];
  classes: number;
  /** The official test split, when the dataset has one. */
  test?: { x: Float32Array; y: Int32Array };
  /** Present only for token-sequence datasets. */
  sequences?: SequenceData;
}

/** How text is cut into tokens: Unicode code points, or whitespace-separated words. */
export type TokenizerKind = "char" | "word";

/**
 * A vocabulary as plain JSON, saved with checkpoints and exports. Token `i`
 * has id `i`; ids 0 to 4 are reserved (pad, begin, sep, end, unk: see
 * data/tokenizer.ts) whatever strings stand there.
 */
export interface Vocabulary {
  tokenizer: TokenizerKind;
  tokens: string[];
}

/** One source sentence and its translation. */
export interface TextPair {
  source: string;
  target: string;
}

/**
 * Token sequences for a decoder-only sequence model. Row `i` of `[N, T]`
 * (`T = length`) is `BEGIN source SEP target END` then PAD (id 0) to `T`.
 * `targetMask[i * T + t]` is 1 where token `t` is a target token or END (what
 * the loss scores: the logits at position `t - 1` predict token `t`), and 0 on
 * BEGIN, the source, SEP and padding. Token ids are in `[0, vocabulary size)`.
 */
export interface SequenceData {
  /** Tokens per row, T (the dataset's max_length). */
  length: number;
  /** `[N, T]` token ids of the training rows, in the same row order as `x`. */
  tokens: Int32Array;
  /** `[N, T]` 1 on the positions the loss scores, else 0. */
  targetMask: Uint8Array;
  /** Shared by source and target; built from the training pairs only. */
  vocabulary: Vocabulary;
  /** The test split, rows as above, with its raw pairs as references for BLEU. */
  test?: { tokens: Int32Array; targetMask: Uint8Array; pairs: TextPair[] };
}

/** Training phase: FNGD's epoch 1 is `inversion`, later epochs `inverse_free`; others `train`. */
export type Phase = "inversion" | "inverse_free" | "train";

/** One (batch, layer)'s FNGD coefficients and what they were solved from. */
export interface CoefficientEntry {
  coefficients: Float32Array;
  /** The epoch whose step solved them (1 for epoch one's inversion). */
  epoch: number;
  /**
   * The staleness reference: per sample, the Gram-diagonal proxy of the
   * batch when it was solved (see SiteMath.gramDiagonal), M values.
   */
  diagonal: Float32Array;
}

/**
 * Per-(batch, layer) FNGD coefficient cache, with history: a refresh adds an
 * entry for a later epoch beside the earlier ones. The worker backs it with
 * Postgres.
 */
export interface CoefficientStore {
  /**
   * The latest entry of (batch, layer) solved in an epoch before `epoch`
   * (so that an epoch re-run after a resume reads what the first run read),
   * or undefined when none is cached.
   */
  get(
    batch: number,
    layer: number,
    epoch: number,
  ): Promise<CoefficientEntry | undefined>;
  /**
   * Records an entry; `lambda` is the one the solve used. Re-putting the
   * same (batch, layer, epoch) replaces it (a retry, or an epoch re-run).
   */
  put(
    batch: number,
    layer: number,
    entry: CoefficientEntry,
    lambda: number,
  ): Promise<void>;
  /** Makes every earlier `put` durable; called before each checkpoint. */
  flush(): Promise<void>;
}

/** A float32 tensor by name, as stored in checkpoints. */
export interface NamedArray {
  shape: number[];
  data: Float32Array;
}

/** Counters that prove the inverse-free property. */
export interface Counters {
  steps: number;
  /** Gram matrices and solves whose coefficients step the weights (epoch one, refreshes, ngd). */
  gram_computations: number;
  solves: number;
  jitter_retries: number;
  /** fngd: (batch, layer) pairs re-solved by `refresh: "auto"` after epoch one (also counted in solves). */
  refreshes: number;
  /** fngd: (batch, layer) pairs re-solved for measurement only (the staleness event; not in solves). */
  staleness_probes: number;
}

/** Everything needed to continue training after `epoch` as if never stopped. */
export interface Checkpoint {
  /** Last completed epoch (1-based). */
  epoch: number;
  seed: number;
  weights: Record<string, NamedArray>;
  optimizer_state: Record<string, NamedArray>;
  counters: Counters;
  seconds_by_phase: Partial<Record<Phase, number>>;
  /** Optimizer scalar state, e.g. Adam's step count. */
  scalars: Record<string, number>;
  /**
   * Sequence models: the vocabulary the model was trained with (optional:
   * checkpoints written before it was saved have none).
   */
  vocabulary?: Vocabulary;
}

export interface StepEventData {
  epoch: number;
  step: number;
  steps: number;
  loss: number;
  phase: Phase;
  /** The learning rate this step used (the schedule's). */
  lr: number;
}

export interface EpochEventData {
  epoch: number;
  phase: Phase;
  steps: number;
  seconds: number;
  train_loss: number;
  val_loss: number | null;
  /**
   * Null for autoencoders (`target: "input"`), which report reconstruction
   * error; for sequences, token accuracy over target tokens.
   */
  val_accuracy: number | null;
  /** Sequences only: the fraction of sequences whose every target token is predicted. */
  val_exact_match?: number | null;
  /** Autoencoders only: see {@link FinalMetrics}. */
  val_reconstruction_error?: number | null;
  /**
   * Sequences with a vocabulary: corpus BLEU-4 in [0, 1] of greedy decoding
   * on the first 256 validation rows; null without validation rows.
   */
  val_bleu?: number | null;
  /** The learning rate of the epoch's last step. */
  lr: number;
}

export interface CoefficientLayerSummary {
  layer: number;
  batches: number;
  mean: number;
  min: number;
  max: number;
  damping: number;
}

/**
 * How stale fngd's reused coefficients were in one layer during an
 * inverse-free epoch. `probes` (batch, layer) pairs were re-solved for
 * measurement: `cosine` compares the direction from the reused coefficients
 * with the fresh one; `diagonal_change` is the relative change
 * `||d - d0|| / ||d0||` of the per-sample Gram-diagonal proxy `d` since it was
 * solved (`d0`). `signal` is `refresh: "auto"`'s drift statistic over the
 * pairs it checked (every step with auto, else the probes); `refreshes` the
 * pairs auto re-solved.
 */
export interface StalenessLayer {
  layer: number;
  probes: number;
  cosine_mean: number | null;
  cosine_min: number | null;
  diagonal_change_mean: number | null;
  checked: number;
  signal_mean: number | null;
  signal_max: number | null;
  refreshes: number;
}

/** The `data` of a `staleness` event: one inverse-free epoch's layers. */
export interface StalenessEventData {
  epoch: number;
  layers: StalenessLayer[];
}

/**
 * Metrics after the last epoch. Classification (`target: "labels"`) reports
 * accuracy; autoencoders (`target: "input"`) report reconstruction error
 * instead: the squared error summed over a sample's outputs (the sigmoid
 * outputs for sigmoid cross-entropy), averaged over samples.
 */
export interface FinalMetrics {
  train_loss: number;
  val_loss: number | null;
  val_accuracy: number | null;
  test_accuracy?: number;
  val_reconstruction_error?: number | null;
  test_reconstruction_error?: number;
  /** Sequences: exact-match rates (accuracies are token accuracies). */
  val_exact_match?: number | null;
  test_exact_match?: number;
  /** Sequences: BLEU-4 of greedy decoding, validation (first 256 rows) and test (all pairs). */
  val_bleu?: number | null;
  test_bleu?: number;
}

/** The `data` of the final `result` event. */
export interface TrainResult {
  final: FinalMetrics;
  counters: Counters;
  seconds_by_phase: Partial<Record<Phase, number>>;
}

/** Events the trainer emits, shaped exactly as the API stores and serves them. */
export type EngineEvent =
  | { type: "step"; data: StepEventData }
  | { type: "epoch"; data: EpochEventData }
  | { type: "coefficients"; data: { layers: CoefficientLayerSummary[] } }
  | { type: "staleness"; data: StalenessEventData }
  | { type: "checkpoint"; data: { epoch: number } }
  | {
    /** `lr: "auto"`: the range test that chose the lr, once, before epoch 1. */
    type: "lr_range";
    data: {
      chosen_lr: number;
      /** Steps the range test took (fewer than planned when it stopped early). */
      steps: number;
      /** The swept learning rates, at most 100 of them (subsampled). */
      lrs: number[];
      /** The smoothed training loss at each of `lrs`. */
      losses: number[];
      /** How `chosen_lr` follows from the curve. */
      rule: string;
    };
  }
  | {
    type: "log";
    data: { level: "info" | "warn"; message: string; [k: string]: unknown };
  }
  | { type: "result"; data: TrainResult };

/** Callback through which progress leaves the engine. */
export type EventSink = (event: EngineEvent) => void | Promise<void>;
