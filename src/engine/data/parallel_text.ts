/**
 * Parallel text: UTF-8 lines `source<TAB>target`, one pair a line. Parsing
 * checks every line and names the first bad one; the dataset's vocabulary
 * comes from its training pairs only.
 */
import { deriveSeed, Rng } from "../rng.ts";
import {
  type Dataset,
  EngineError,
  type TextPair,
  type TokenizerKind,
} from "../types.ts";
import { sequenceDataset } from "./sequences.ts";
import {
  PAIR_OVERHEAD,
  pairLength,
  splitTokens,
  Tokenizer,
} from "./tokenizer.ts";

/** Longest row any sequence dataset may have, in tokens (attention costs T^2). */
export const MAX_SEQUENCE_LENGTH = 1024;

/** Largest test_fraction: at least half the pairs stay for training. */
export const MAX_TEST_FRACTION = 0.5;

/** Options for {@link parseParallelText}. */
export interface ParseParallelTextOptions {
  /** Default `char`. */
  tokenizer?: TokenizerKind;
  /** Refuse pairs longer than this many tokens; default {@link MAX_SEQUENCE_LENGTH}. */
  maxLength?: number;
}

/** Options for {@link parallelTextDataset}. */
export interface ParallelTextOptions extends ParseParallelTextOptions {
  /** Hold out this fraction of the training pairs as the test split. */
  testFraction?: number;
}

// test_fraction picks its lines with this fixed seed: the same file always
// splits the same way, and a sorted file does not lose its tail to the test.
const TEST_FRACTION_SEED = 0x7e57;

function invalid(message: string, cause?: unknown): EngineError {
  return new EngineError(
    "invalid_data",
    message,
    cause ? { cause } : undefined,
  );
}

/**
 * Decodes UTF-8 strictly; on bad bytes, names the first line that holds them.
 * @throws {EngineError} `invalid_data` naming the line.
 */
export function decodeUtf8Text(bytes: Uint8Array): string {
  const strict = new TextDecoder("utf-8", { fatal: true });
  try {
    return strict.decode(bytes);
  } catch (e) {
    // 0x0A never occurs inside a multi-byte UTF-8 sequence, so lines can be
    // cut at it before decoding.
    let start = 0;
    for (let line = 1;; line++) {
      const nl = bytes.indexOf(0x0a, start);
      const end = nl < 0 ? bytes.length : nl;
      try {
        strict.decode(bytes.subarray(start, end));
      } catch (lineError) {
        throw invalid(
          `line ${line}: not valid UTF-8 text; parallel text must be UTF-8`,
          lineError,
        );
      }
      if (nl < 0) throw invalid("not valid UTF-8 text", e);
      start = nl + 1;
    }
  }
}

/** Lines without the byte-order mark and trailing blank lines; \n or \r\n. */
function splitLines(text: string): string[] {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1].trim() === "") {
    lines.pop();
  }
  return lines;
}

/**
 * Parses line `n` of parallel text, for readers that see a file line by
 * line; `explicitMax` says whether `maxLength` was given (it words the error).
 * @throws {EngineError} `invalid_data` naming the line.
 */
export function parseParallelTextLine(
  line: string,
  n: number,
  kind: TokenizerKind,
  maxLength: number,
  explicitMax: boolean,
): TextPair {
  const tab = line.indexOf("\t");
  if (tab < 0) {
    throw invalid(
      line.trim() === ""
        ? `line ${n}: empty line; expected source<TAB>target`
        : `line ${n}: expected source<TAB>target, found no tab`,
    );
  }
  const tabs = line.split("\t").length - 1;
  if (tabs > 1) {
    throw invalid(
      `line ${n}: expected one tab between source and target, found ${tabs}`,
    );
  }
  const source = line.slice(0, tab);
  const target = line.slice(tab + 1);
  const s = splitTokens(kind, source).length;
  const t = splitTokens(kind, target).length;
  if (s === 0 || t === 0) {
    throw invalid(
      `line ${n}: the ${s === 0 ? "source" : "target"} is empty`,
    );
  }
  const length = s + t + PAIR_OVERHEAD;
  if (length > maxLength) {
    const limit = explicitMax
      ? `max_length ${maxLength}`
      : `the limit of ${maxLength} tokens`;
    throw invalid(
      `line ${n}: the pair takes ${length} ${kind} tokens (source ${s}, target ${t}, plus BEGIN, SEP and END), more than ${limit}`,
    );
  }
  return { source, target };
}

/**
 * Parses `source<TAB>target` lines (bytes must be UTF-8).
 * @throws {EngineError} `invalid_data` naming the line of non-UTF-8 bytes, a
 * line without a tab or with more than one, an empty source or target, or a
 * pair longer than `maxLength` tokens; or saying the file is empty.
 */
export function parseParallelText(
  input: Uint8Array | string,
  options: ParseParallelTextOptions = {},
): TextPair[] {
  const text = typeof input === "string" ? input : decodeUtf8Text(input);
  const lines = splitLines(text);
  if (lines.length === 0) {
    throw invalid("empty file: expected source<TAB>target lines");
  }
  const kind = options.tokenizer ?? "char";
  const maxLength = options.maxLength ?? MAX_SEQUENCE_LENGTH;
  const explicit = options.maxLength !== undefined;
  return lines.map((line, i) =>
    parseParallelTextLine(line, i + 1, kind, maxLength, explicit)
  );
}

/**
 * Which of `count` pairs `test_fraction` holds out (1) for the test split: a
 * fixed-seed choice, so the same file always splits the same way.
 */
export function testFractionMask(count: number, fraction: number): Uint8Array {
  const held = Math.floor(count * fraction);
  const chosen = new Uint8Array(count);
  const perm = new Rng(deriveSeed(TEST_FRACTION_SEED, count))
    .permutation(count);
  for (let i = 0; i < held; i++) chosen[perm[i]] = 1;
  return chosen;
}

/** Splits off `fraction` of `pairs` (fixed-seed choice, file order kept in both). */
function holdOut(
  pairs: TextPair[],
  fraction: number,
): { train: TextPair[]; test: TextPair[] } {
  const chosen = testFractionMask(pairs.length, fraction);
  return {
    train: pairs.filter((_, i) => !chosen[i]),
    test: pairs.filter((_, i) => chosen[i]),
  };
}

/**
 * Builds a sequence dataset from parsed pairs. The vocabulary comes from the
 * training pairs only (a token seen only in the test split encodes as unk);
 * rows are `maxLength` tokens, by default as long as the longest pair of
 * either split.
 * @throws {EngineError} `invalid_spec` for a bad test fraction or both a test
 * split and a test fraction; `invalid_data` for a pair longer than `maxLength`.
 */
export function parallelTextDataset(
  train: TextPair[],
  test: TextPair[] | undefined,
  options: ParallelTextOptions = {},
): Dataset {
  const kind = options.tokenizer ?? "char";
  const fraction = options.testFraction;
  if (fraction !== undefined) {
    if (test !== undefined) {
      throw new EngineError(
        "invalid_spec",
        "give a test file or test_fraction, not both",
      );
    }
    if (!(fraction > 0 && fraction <= MAX_TEST_FRACTION)) {
      throw new EngineError(
        "invalid_spec",
        `test_fraction must be in (0, ${MAX_TEST_FRACTION}], got ${fraction}`,
      );
    }
    ({ train, test } = holdOut(train, fraction));
  }
  const tokenizer = Tokenizer.build(
    kind,
    train.flatMap((p) => [p.source, p.target]),
  );
  let length = options.maxLength ?? 0;
  if (options.maxLength === undefined) {
    for (const p of [...train, ...(test ?? [])]) {
      length = Math.max(length, pairLength(kind, p.source, p.target));
    }
  }
  return sequenceDataset(tokenizer, train, test, length);
}
