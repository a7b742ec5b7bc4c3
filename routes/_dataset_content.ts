/**
 * Validates an upload by parsing it with the engine's parsers, and encodes
 * what the datasets table stores in `content`:
 *
 * - `idx`: the uncompressed IDX files concatenated: images, labels, then
 *   optionally test images and test labels. Each IDX header gives its own
 *   length (4 + 4 * ndims + prod(dims) * element size), so a reader splits them
 *   in order; gzip is removed so that reader needs no inflate step.
 * - `csv`: the UTF-8 CSV as uploaded, except that the label column's header is
 *   renamed `label`, so a reader needs no side channel for the column name:
 *   `parseCsvDataset(text, {labelColumn: "label", shape: row.shape})`.
 * - `parallel_text`: UTF-8 JSON {@link StoredParallelText}: the options and
 *   the texts as uploaded, `max_length` resolved (it is also `shape[0]`), so
 *   a reader rebuilds exactly the dataset validated here with
 *   `parseParallelText` and `parallelTextDataset`.
 *
 * `shape` is the sample shape; `sha256` and `bytes` describe `content`.
 */
import {
  decodeUtf8Text,
  gunzip,
  idxToDataset,
  isGzip,
  parallelTextDataset,
  parseCsvDataset,
  parseIdx,
  parseParallelText,
} from "../src/engine/data/mod.ts";
import { EngineError, type TokenizerKind } from "../src/engine/types.ts";
import { ApiError } from "./problem.ts";

/** What the datasets table stores for an upload. */
export interface EncodedDataset {
  shape: number[];
  content: Uint8Array;
  /** Training samples, for the response. */
  samples: number;
  classes: number;
}

/** The label column name inside stored CSV content. */
export const STORED_LABEL_COLUMN = "label";

/** Engine parse errors are the client's fault here: 400 with the parser's words. */
async function asInvalid<T>(what: string, f: () => Promise<T> | T): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof EngineError) {
      throw new ApiError("invalid_dataset", `${what}: ${e.message}`, {
        cause: e,
      });
    }
    throw e;
  }
}

/** Uploaded IDX files, gzipped or raw. */
export interface IdxUpload {
  images: Uint8Array;
  labels: Uint8Array;
  testImages?: Uint8Array;
  testLabels?: Uint8Array;
}

/**
 * Parses and concatenates IDX files; `maxInflated` bounds the stored size.
 * @throws {ApiError} `invalid_dataset` naming the bad file.
 */
export async function encodeIdx(
  upload: IdxUpload,
  maxInflated: number,
): Promise<EncodedDataset> {
  const files = [
    ["images", upload.images],
    ["labels", upload.labels],
    ["test_images", upload.testImages],
    ["test_labels", upload.testLabels],
  ] as const;
  const raws: Uint8Array[] = [];
  const parsed = [];
  let budget = maxInflated;
  for (const [field, bytes] of files) {
    if (!bytes) continue;
    const raw = await asInvalid(
      field,
      () => isGzip(bytes) ? gunzip(bytes, budget) : bytes,
    );
    budget -= raw.length;
    raws.push(raw);
    parsed.push(await asInvalid(field, () => parseIdx(raw)));
  }
  const [images, labels, testImages, testLabels] = parsed;
  // limit 1 converts a single sample to float: the labels, shapes and test
  // split are still checked in full, without a float copy of every image.
  const dataset = await asInvalid(
    "images and labels",
    () => idxToDataset(images, labels, testImages, testLabels, { limit: 1 }),
  );
  const content = new Uint8Array(raws.reduce((n, r) => n + r.length, 0));
  let at = 0;
  for (const raw of raws) {
    content.set(raw, at);
    at += raw.length;
  }
  return {
    shape: dataset.sampleShape,
    content,
    samples: images.dims[0],
    classes: dataset.classes,
  };
}

/**
 * Parses a CSV and renames its label column to {@link STORED_LABEL_COLUMN}.
 * @throws {ApiError} `invalid_dataset` with the parser's line and column.
 */
export async function encodeCsv(
  bytes: Uint8Array,
  labelColumn: string,
  shape: number[] | undefined,
): Promise<EncodedDataset> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (e) {
    throw new ApiError("invalid_dataset", "file: CSV must be UTF-8 text", {
      cause: e,
    });
  }
  const dataset = await asInvalid(
    "file",
    () => parseCsvDataset(text, { labelColumn, shape }),
  );
  const eol = text.search(/\r?\n/);
  const headerEnd = eol < 0 ? text.length : eol;
  const header = text.slice(0, headerEnd).replace(/^\uFEFF/, "").split(",")
    .map((c) => c.trim());
  if (
    labelColumn !== STORED_LABEL_COLUMN && header.includes(STORED_LABEL_COLUMN)
  ) {
    throw new ApiError(
      "invalid_dataset",
      `file: a feature column is named "${STORED_LABEL_COLUMN}" while label_column is "${labelColumn}"; rename one of them`,
    );
  }
  const renamed = header.map((c) => c === labelColumn ? STORED_LABEL_COLUMN : c)
    .join(",");
  return {
    shape: dataset.sampleShape,
    content: new TextEncoder().encode(renamed + text.slice(headerEnd)),
    samples: dataset.y.length,
    classes: dataset.classes,
  };
}

/** The stored content of a `parallel_text` upload (JSON). */
export interface StoredParallelText {
  tokenizer: TokenizerKind;
  /** Tokens per row: the upload's max_length, or the longest pair's. */
  max_length: number;
  test_fraction?: number;
  /** The training file's text (test_fraction lines included). */
  train: string;
  /** The test file's text, when one was uploaded. */
  test?: string;
}

/** Options of a parallel-text upload. */
export interface ParallelTextUpload {
  file: Uint8Array;
  testFile?: Uint8Array;
  tokenizer: TokenizerKind;
  maxLength?: number;
  testFraction?: number;
}

/**
 * Parses parallel text (and its test file) as a job will, and stores the
 * texts with the options as {@link StoredParallelText}.
 * @throws {ApiError} `invalid_dataset` naming the file and line at fault.
 */
export async function encodeParallelText(
  upload: ParallelTextUpload,
): Promise<EncodedDataset> {
  const { tokenizer, maxLength, testFraction } = upload;
  const parse = async (field: string, bytes: Uint8Array) => {
    const text = await asInvalid(field, () => decodeUtf8Text(bytes));
    const pairs = await asInvalid(
      field,
      () => parseParallelText(text, { tokenizer, maxLength }),
    );
    return { text, pairs };
  };
  const train = await parse("file", upload.file);
  const test = upload.testFile
    ? await parse("test_file", upload.testFile)
    : undefined;
  const dataset = await asInvalid(
    "file",
    () =>
      parallelTextDataset(train.pairs, test?.pairs, {
        tokenizer,
        maxLength,
        testFraction,
      }),
  );
  const stored: StoredParallelText = {
    tokenizer,
    max_length: dataset.sampleShape[0],
    test_fraction: testFraction,
    train: train.text,
    test: test?.text,
  };
  return {
    shape: dataset.sampleShape,
    content: new TextEncoder().encode(JSON.stringify(stored)),
    samples: dataset.y.length,
    classes: dataset.classes,
  };
}
