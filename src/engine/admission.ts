/**
 * Admission control: decides from the spec alone, before any data or tensor
 * exists, whether the engine can run a job and whether it fits a memory
 * limit. The API calls it at submission, the worker before training, with the
 * same code, so a job is never accepted only to fail as `internal` later.
 */
import {
  type DatasetInfo,
  estimateJobCost,
  type JobCostEstimate,
} from "./cost.ts";
import { syntheticBytes, syntheticShape } from "./data/synthetic_size.ts";
import {
  TRANSLATION_LENGTH,
  TRANSLATION_VOCABULARY_SIZE,
  translationBytes,
} from "./data/translation_size.ts";
import {
  checkDataFitsModel,
  inferModelShapes,
  type ModelShapes,
  specError,
} from "./shapes.ts";
import type { DatasetSpec, JobSpec } from "./spec.ts";
import { type Dataset, EngineError } from "./types.ts";
import { formatBytes } from "./units.ts";

export type { DatasetInfo } from "./cost.ts";

/**
 * Dataset facts for admission: the estimate's, and for token sequences the
 * vocabulary the model's embeddings must cover.
 */
export interface DatasetFacts extends DatasetInfo {
  /** Token-sequence data: every id lies in `[0, vocabulary)`, when known. */
  vocabulary?: number;
}

/** Known sizes of a named IDX dataset. */
export interface NamedDatasetFacts {
  train: number;
  test: number;
  shape: number[];
  classes: number;
}

/** The named IDX datasets' known sizes: both are 70000 28x28 greyscale images of 10 classes. */
export const NAMED_DATASETS: Record<
  "fashion-mnist" | "mnist",
  NamedDatasetFacts
> = {
  "fashion-mnist": {
    train: 60_000,
    test: 10_000,
    shape: [28, 28, 1],
    classes: 10,
  },
  "mnist": { train: 60_000, test: 10_000, shape: [28, 28, 1], classes: 10 },
};

/** What the datasets table records about an upload. */
export interface UploadedDatasetFacts {
  format: "idx" | "csv" | "parallel_text";
  /** Shape of one sample (`[max_length]` for parallel text). */
  shape: number[];
  /** Size of the stored content. */
  bytes: number;
}

// Fewest stored bytes a parallel-text pair takes: "a\tb\n" inside the
// stored JSON strings (routes/_dataset_content.ts).
const MIN_STORED_PAIR_BYTES = 6;

/**
 * Host bytes a token-sequence dataset of `rows` rows of `length` tokens holds
 * besides `x` and `y` (which the cost estimate counts as samples): int32
 * tokens and the uint8 mask of every row as built, and the split's copies
 * that batches.ts makes of every row (int32 tokens, float32 mask).
 */
export function sequenceRowBytes(rows: number, length: number): number {
  return rows * (4 + 1 + 4 + 4) * length;
}

/**
 * Dataset facts of an upload from its stored shape and size alone. The sample
 * count is an upper bound: an IDX sample takes at least one byte per value
 * plus a label byte; a CSV value at least a digit and a separator; a
 * parallel-text pair at least {@link MIN_STORED_PAIR_BYTES}.
 */
export function uploadedDatasetInfo(row: UploadedDatasetFacts): DatasetInfo {
  const features = row.shape.reduce((a, b) => a * b, 1);
  if (row.format === "parallel_text") {
    const pairs = Math.floor(row.bytes / MIN_STORED_PAIR_BYTES);
    return {
      sampleShape: [...row.shape],
      trainSamples: pairs,
      testSamples: 0,
      // The JSON text, its strings, their lines and the pairs (UTF-16:
      // 2 bytes a character, 4 copies), then the token rows.
      loaderBytes: 8 * row.bytes + sequenceRowBytes(pairs, features),
    };
  }
  const idx = row.format === "idx";
  return {
    sampleShape: [...row.shape],
    trainSamples: Math.floor(row.bytes / ((idx ? 1 : 2) * (features + 1))),
    testSamples: 0,
    // IDX: the stored bytes and one decoded copy. CSV: the bytes, the text,
    // and its lines as strings, with room for per-string overhead.
    loaderBytes: (idx ? 2 : 4) * row.bytes,
  };
}

/** Exact dataset facts of data already in memory (the CLI's csv and idx files). */
export function datasetInfoOf(data: Dataset): DatasetFacts {
  const trainSamples = data.y.length;
  const testSamples = data.test?.y.length ?? 0;
  const seq = data.sequences;
  return {
    sampleShape: [...data.sampleShape],
    trainSamples,
    testSamples,
    classes: data.classes,
    vocabulary: seq?.vocabulary.tokens.length,
    loaderBytes: seq
      ? sequenceRowBytes(trainSamples + testSamples, seq.length)
      : 0,
  };
}

/**
 * Dataset facts a spec determines by itself: synthetic and named datasets.
 * Undefined for uploads and files, whose facts come from the row or the data.
 */
export function datasetInfoFromSpec(
  spec: DatasetSpec,
): DatasetFacts | undefined {
  if ("id" in spec || "format" in spec) return undefined;
  if (spec.name === "synthetic-translation") {
    return {
      sampleShape: [TRANSLATION_LENGTH],
      trainSamples: spec.pairs,
      testSamples: spec.test_pairs,
      classes: TRANSLATION_VOCABULARY_SIZE,
      vocabulary: TRANSLATION_VOCABULARY_SIZE,
      inputsInUnitInterval: false,
      loaderBytes: translationBytes(spec).generator +
        sequenceRowBytes(spec.pairs + spec.test_pairs, TRANSLATION_LENGTH),
    };
  }
  if (spec.name === "synthetic") {
    return {
      sampleShape: syntheticShape(spec),
      trainSamples: spec.samples,
      testSamples: spec.test_samples,
      classes: spec.classes,
      inputsInUnitInterval: false,
      loaderBytes: syntheticBytes(spec).generator,
    };
  }
  const named = NAMED_DATASETS[spec.name];
  const features = named.shape.reduce((a, b) => a * b, 1);
  return {
    sampleShape: [...named.shape],
    trainSamples: Math.min(named.train, spec.limit ?? Infinity),
    testSamples: named.test,
    classes: named.classes,
    inputsInUnitInterval: true, // bytes scaled by 255 (data/idx.ts)
    // The IDX files (images and labels, train and test) decompressed, read
    // whole even with a limit, plus one more copy while they inflate.
    loaderBytes: 2 * (named.train + named.test) * (features + 1),
  };
}

/** A job judged runnable, with its shapes and cost. */
export interface Assessment {
  shapes: ModelShapes;
  dataset: DatasetFacts;
  estimate: JobCostEstimate;
}

function requireDatasetInfo(
  spec: JobSpec,
  dataset: DatasetFacts | undefined,
): DatasetFacts {
  const info = dataset ?? datasetInfoFromSpec(spec.dataset);
  if (!info) {
    throw new EngineError(
      "invalid_spec",
      "the dataset's size is not in its spec (an upload or a file): pass its DatasetInfo, from uploadedDatasetInfo(row) or datasetInfoOf(data)",
      { path: ["dataset"] },
    );
  }
  return info;
}

/**
 * Infers the model's shapes, checks the data fits them, and estimates the
 * cost. `dataset` defaults to what the spec determines (synthetic, named).
 * @throws {EngineError} `invalid_spec` with `path` naming the field at fault.
 */
export function assessJob(
  spec: JobSpec,
  dataset?: DatasetFacts,
): Assessment {
  const shapes = inferModelShapes(spec.model);
  const info = requireDatasetInfo(spec, dataset);
  const autoencoder = spec.target === "input";
  checkDataFitsModel(
    shapes,
    // An autoencoder's targets are its inputs: the classes do not matter.
    autoencoder ? { sampleShape: info.sampleShape } : info,
    spec.model.layers.length - 1,
  );
  if (
    autoencoder && spec.loss === "sigmoid_cross_entropy" &&
    info.inputsInUnitInterval === false
  ) {
    throw specError(
      ["loss"],
      'sigmoid_cross_entropy with target "input" needs inputs in [0, 1], but this dataset\'s are not (synthetic features are Gaussian); use mse',
    );
  }
  return {
    shapes,
    dataset: info,
    estimate: estimateJobCost(spec, shapes, info),
  };
}

/** `too_large`: the estimate exceeds the limit; carries both for the caller. */
export class JobTooLargeError extends EngineError {
  constructor(
    readonly estimate: JobCostEstimate,
    readonly limitBytes: number,
  ) {
    super("too_large", tooLargeMessage(estimate, limitBytes));
    this.name = "JobTooLargeError";
  }
}

function tooLargeMessage(estimate: JobCostEstimate, limit: number): string {
  const b = estimate.bytes;
  const parts = (
    [
      ["parameters", b.parameters],
      ["optimizer state", b.optimizer_state],
      ["activations", b.activations],
      ["curvature", b.curvature],
      ["dataset", b.dataset],
      ["checkpoint", b.checkpoint],
    ] as const
  ).filter(([, n]) => n > 0).map(([what, n]) => `${what} ${formatBytes(n)}`);
  return `the job would need about ${formatBytes(b.total_bytes)} of memory (${
    parts.join(", ")
  }), at most ${
    formatBytes(limit)
  } allowed; lower batch_size, the layer sizes or the dataset size`;
}

/**
 * The guard a worker runs before training (and the API at submission): the
 * spec must be runnable and its estimated memory at most `limitBytes`.
 * `dataset` may be omitted for synthetic and named datasets, whose size the
 * spec gives, so the check runs before the data is generated or loaded.
 * @returns the estimate, for logs.
 * @throws {EngineError} `invalid_spec` naming the field at fault;
 * {@link JobTooLargeError} (code `too_large`) with the estimate broken down.
 */
export function checkJobFits(
  spec: JobSpec,
  limitBytes: number,
  dataset?: DatasetFacts,
): JobCostEstimate {
  const { estimate } = assessJob(spec, dataset);
  if (estimate.bytes.total_bytes > limitBytes) {
    throw new JobTooLargeError(estimate, limitBytes);
  }
  return estimate;
}
