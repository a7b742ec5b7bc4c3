/**
 * What an upload stores as its content blob, and what the encoders share.
 * Uploads are validated by streaming them (routes/_idx_upload.ts,
 * _csv_upload.ts, _parallel_text_upload.ts) straight into the blob store,
 * never whole in memory; the stored content is:
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
 * `shape` is the sample shape; `sha256` and `bytes` describe the content.
 */
import type { StagedBlob } from "../db/mod.ts";
import { EngineError, type TokenizerKind } from "../src/engine/types.ts";
import { ApiError } from "./problem.ts";

/** An upload, checked and staged in the blob store, not yet committed. */
export interface EncodedDataset {
  shape: number[];
  content: StagedBlob;
  /** Training samples, for the response. */
  samples: number;
  classes: number;
}

/** The label column name inside stored CSV content. */
export const STORED_LABEL_COLUMN = "label";

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

/** Engine parse errors are the client's fault here: 400 with the parser's words. */
export async function asInvalid<T>(
  what: string,
  f: () => Promise<T> | T,
): Promise<T> {
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

/** {@link asInvalid} for synchronous checks inside stream callbacks. */
export function asInvalidSync<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof EngineError) {
      throw new ApiError("invalid_dataset", `${what}: ${e.message}`, {
        cause: e,
      });
    }
    throw e;
  }
}
