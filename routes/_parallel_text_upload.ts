/**
 * A parallel-text upload, checked line by line with the engine's line
 * parser and stored as {@link StoredParallelText} JSON, in two passes over
 * the spooled files: the first checks every line (UTF-8 first, as the
 * engine does) and finds the longest pair; the second writes the JSON into
 * the blob store while it counts the training vocabulary. Only a line and
 * the set of distinct tokens are held.
 */
import type { BlobStore } from "../db/mod.ts";
import {
  MAX_SEQUENCE_LENGTH,
  PAIR_OVERHEAD,
  parseParallelTextLine,
  RESERVED_TOKENS,
  splitTokens,
  testFractionMask,
} from "../src/engine/data/mod.ts";
import { EngineError, type TokenizerKind } from "../src/engine/types.ts";
import { byteLines, openFileStream } from "./_byte_streams.ts";
import { asInvalid, type EncodedDataset } from "./_dataset_content.ts";
import type { SpooledFile } from "./_multipart.ts";

/** Options of a parallel-text upload, its files spooled. */
export interface ParallelTextUpload {
  file: SpooledFile;
  testFile?: SpooledFile;
  tokenizer: TokenizerKind;
  maxLength?: number;
  testFraction?: number;
}

/** A line decoded as the engine decodes a whole file: BOM dropped at the start only. */
function lineDecoder(): (bytes: Uint8Array, lineNo: number) => string {
  const first = new TextDecoder("utf-8", { fatal: true });
  const rest = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  return (bytes, lineNo) => (lineNo === 1 ? first : rest).decode(bytes);
}

/** The text of a line as the engine parses it. */
function parsedText(text: string, lineNo: number): string {
  const line = text.replace(/\r$/, "");
  return lineNo === 1 ? line.replace(/^\uFEFF/, "") : line;
}

function invalid(message: string, cause?: unknown): EngineError {
  return new EngineError("invalid_data", message, cause ? { cause } : {});
}

/**
 * Checks every line of a file; returns its pair count and longest pair.
 * UTF-8 errors win over parse errors, whatever their order, as in the
 * engine (which decodes the whole file before parsing it).
 */
async function checkFile(
  file: SpooledFile,
  kind: TokenizerKind,
  maxLength: number | undefined,
): Promise<{ pairs: number; longest: number }> {
  const decode = lineDecoder();
  const limit = maxLength ?? MAX_SEQUENCE_LENGTH;
  let parseError: unknown;
  let lineNo = 0;
  let pairs = 0;
  let longest = 0;
  /** Blank lines since the last other one: pairs only if more lines follow. */
  let blank: [number, string][] = [];
  const parse = (n: number, text: string) => {
    if (parseError) return;
    try {
      const p = parseParallelTextLine(
        text,
        n,
        kind,
        limit,
        maxLength !== undefined,
      );
      const length = splitTokens(kind, p.source).length +
        splitTokens(kind, p.target).length + PAIR_OVERHEAD;
      if (length > longest) longest = length;
      pairs = n;
    } catch (e) {
      parseError = e;
    }
  };
  for await (const bytes of byteLines(await openFileStream(file.path))) {
    const n = ++lineNo;
    let text: string;
    try {
      text = parsedText(decode(bytes, n), n);
    } catch (e) {
      throw invalid(
        `line ${n}: not valid UTF-8 text; parallel text must be UTF-8`,
        e,
      );
    }
    if (text.trim() === "") {
      blank.push([n, text]);
      continue;
    }
    for (const [m, t] of blank) parse(m, t);
    blank = [];
    parse(n, text);
  }
  if (parseError) throw parseError;
  if (pairs === 0) {
    throw invalid("empty file: expected source<TAB>target lines");
  }
  return { pairs, longest };
}

/**
 * A file's text as JSON string content, and (for the training file) the
 * tokens of its training pairs added to `vocabulary`.
 */
async function* jsonText(
  file: SpooledFile,
  training?: {
    kind: TokenizerKind;
    pairs: number;
    held?: Uint8Array;
    vocabulary: Set<string>;
  },
): AsyncGenerator<string> {
  const decode = lineDecoder();
  let lineNo = 0;
  let previous: string | undefined;
  for await (const bytes of byteLines(await openFileStream(file.path))) {
    const n = ++lineNo;
    // Each line but the last was followed by the "\n" byteLines removed.
    if (previous !== undefined) {
      yield JSON.stringify(previous + "\n").slice(1, -1);
    }
    const text = decode(bytes, n);
    previous = text;
    if (training && n <= training.pairs && !training.held?.[n - 1]) {
      const line = parsedText(text, n);
      const tab = line.indexOf("\t");
      for (const part of [line.slice(0, tab), line.slice(tab + 1)]) {
        for (const t of splitTokens(training.kind, part)) {
          training.vocabulary.add(t);
        }
      }
    }
  }
  if (previous) yield JSON.stringify(previous).slice(1, -1);
}

/**
 * Checks parallel text (and its test file) as a job will read it, and stores
 * the texts with the options.
 * @throws {ApiError} `invalid_dataset` naming the file and line at fault;
 * nothing stays staged then.
 */
export async function encodeParallelText(
  upload: ParallelTextUpload,
  blobs: BlobStore,
): Promise<EncodedDataset> {
  const { tokenizer, maxLength, testFraction } = upload;
  const train = await asInvalid(
    "file",
    () => checkFile(upload.file, tokenizer, maxLength),
  );
  const test = upload.testFile
    ? await asInvalid(
      "test_file",
      () => checkFile(upload.testFile!, tokenizer, maxLength),
    )
    : undefined;
  const length = maxLength ?? Math.max(train.longest, test?.longest ?? 0);
  const held = testFraction === undefined
    ? undefined
    : testFractionMask(train.pairs, testFraction);
  const heldCount = held ? held.reduce((n, h) => n + h, 0) : 0;
  const vocabulary = new Set<string>();
  const testFile = upload.testFile;
  async function* json(): AsyncGenerator<string> {
    yield `{"tokenizer":${JSON.stringify(tokenizer)},"max_length":${length}`;
    if (testFraction !== undefined) yield `,"test_fraction":${testFraction}`;
    yield `,"train":"`;
    yield* jsonText(upload.file, {
      kind: tokenizer,
      pairs: train.pairs,
      held,
      vocabulary,
    });
    yield `"`;
    if (testFile) {
      yield `,"test":"`;
      yield* jsonText(testFile);
      yield `"`;
    }
    yield "}";
  }
  const staged = await blobs.stage(
    ReadableStream.from(json()).pipeThrough(new TextEncoderStream()),
  );
  return {
    content: staged,
    shape: [length],
    samples: train.pairs - heldCount,
    classes: RESERVED_TOKENS.length + vocabulary.size,
  };
}
