/**
 * A seeded translation task for sequence models. Each pair is one of four
 * tasks, chosen uniformly, its source led by a marker naming the target's
 * format (translation_words.ts):
 *
 * - `words: 312` -> `three hundred and twelve`, and
 *   `digits: three hundred and twelve` -> `312`, numbers 0 to 999 999 with a
 *   digit count uniform in 1 to 6, so short numbers are as common as long;
 * - `long: 2026-11-28` -> `28 November 2026`, and
 *   `iso: 28 November 2026` -> `2026-11-28`, days uniform in 1900 to 2099.
 *
 * Reading a number from words takes place value ("one thousand and four" is
 * 1004, "four thousand" 4000) and writing one takes the British "and": a
 * small model does not solve it in an epoch. Characters are the tokens, and
 * the vocabulary is the task's fixed alphabet, so its size and the row length
 * (translation_size.ts) are known from the spec. Test pairs never repeat a
 * training source, nor each other.
 */
import type { z } from "zod";
import { deriveSeed, Rng } from "../rng.ts";
import type { TranslationDatasetSpec } from "../spec.ts";
import { type Dataset, EngineError, type TextPair } from "../types.ts";
import { sequenceDataset } from "./sequences.ts";
import { RESERVED_TOKENS, Tokenizer } from "./tokenizer.ts";
import { TRANSLATION_LENGTH } from "./translation_size.ts";
import {
  type CalendarDate,
  isoDate,
  longDate,
  MAX_NUMBER,
  numberToWords,
  TASK_MARKERS,
  translationAlphabet,
} from "./translation_words.ts";

/** The validated synthetic-translation spec, defaults filled in. */
export type TranslationSpec = z.infer<typeof TranslationDatasetSpec>;

// Separate streams so that adding test pairs never changes the training set.
const STREAM_TRAIN = 1;
const STREAM_TEST = 2;

const DAY_MS = 86_400_000;
const FIRST_DAY = Date.UTC(1900, 0, 1) / DAY_MS;
const LAST_DAY = Date.UTC(2099, 11, 31) / DAY_MS;
const MAX_DIGITS = String(MAX_NUMBER).length;

/** A number whose digit count is uniform in 1 to 6, then uniform among those. */
function randomNumber(rng: Rng): number {
  const digits = 1 + rng.int(MAX_DIGITS);
  const lo = digits === 1 ? 0 : 10 ** (digits - 1);
  return lo + rng.int(10 ** digits - lo);
}

function randomDate(rng: Rng): CalendarDate {
  const d = new Date((FIRST_DAY + rng.int(LAST_DAY - FIRST_DAY + 1)) * DAY_MS);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
  };
}

/** One pair of a uniformly chosen task, drawn from `rng`. */
export function makeTranslationPair(rng: Rng): TextPair {
  const task = rng.int(4);
  if (task < 2) {
    const n = randomNumber(rng);
    const digits = String(n);
    const words = numberToWords(n);
    return task === 0
      ? { source: TASK_MARKERS.toWords + digits, target: words }
      : { source: TASK_MARKERS.toDigits + words, target: digits };
  }
  const d = randomDate(rng);
  return task === 2
    ? { source: TASK_MARKERS.toLongDate + isoDate(d), target: longDate(d) }
    : { source: TASK_MARKERS.toIsoDate + longDate(d), target: isoDate(d) };
}

/** The task's character tokenizer: the reserved tokens, then its alphabet in code-point order. */
export function translationTokenizer(): Tokenizer {
  return new Tokenizer({
    tokenizer: "char",
    tokens: [...RESERVED_TOKENS, ...translationAlphabet()],
  });
}

/** `count` pairs whose sources are not in `seen` (which gains them). */
function unseenPairs(count: number, rng: Rng, seen: Set<string>): TextPair[] {
  const pairs: TextPair[] = [];
  // Over two million distinct sources exist, far more than the spec's bound
  // on pairs; the cap only turns a bug into an error instead of a hang.
  const maxDraws = 100 * count + 10_000;
  for (let draws = 0; pairs.length < count; draws++) {
    if (draws >= maxDraws) {
      throw new EngineError(
        "invalid_spec",
        `could not draw ${count} test pairs unseen in training after ${maxDraws} draws; lower test_pairs`,
      );
    }
    const p = makeTranslationPair(rng);
    if (seen.has(p.source)) continue;
    seen.add(p.source);
    pairs.push(p);
  }
  return pairs;
}

/** Generates the translation dataset fully determined by `spec.seed`. */
export function makeTranslationDataset(spec: TranslationSpec): Dataset {
  const rng = new Rng(deriveSeed(spec.seed, STREAM_TRAIN));
  const train = Array.from(
    { length: spec.pairs },
    () => makeTranslationPair(rng),
  );
  const test = spec.test_pairs > 0
    ? unseenPairs(
      spec.test_pairs,
      new Rng(deriveSeed(spec.seed, STREAM_TEST)),
      new Set(train.map((p) => p.source)),
    )
    : undefined;
  return sequenceDataset(
    translationTokenizer(),
    train,
    test,
    TRANSLATION_LENGTH,
  );
}
