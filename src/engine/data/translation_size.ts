/**
 * What the synthetic translation generator allocates, and its fixed row
 * length and vocabulary size, from the spec alone: the spec refuses a dataset
 * before a byte of it exists, and admission knows its shape.
 */
import { PAIR_OVERHEAD, RESERVED_TOKENS } from "./tokenizer.ts";
import {
  LONGEST_NUMBER_WORDS,
  MAX_NUMBER,
  TASK_MARKERS,
  translationAlphabet,
} from "./translation_words.ts";

/**
 * Tokens per row, T: the longest pair is a six-digit number read from words,
 * `BEGIN digits: <72 characters> SEP <6 digits> END` (89 tokens). Every row
 * is padded to it, so a model's `input_shape` is `[89]` whatever the seed.
 */
export const TRANSLATION_LENGTH = PAIR_OVERHEAD + TASK_MARKERS.toDigits.length +
  LONGEST_NUMBER_WORDS + String(MAX_NUMBER).length;

/** Vocabulary size: the reserved tokens and the task's alphabet (fixed, see translation.ts). */
export const TRANSLATION_VOCABULARY_SIZE = RESERVED_TOKENS.length +
  translationAlphabet().length;

/** The spec fields that decide the generator's size. */
export interface TranslationSizeInput {
  pairs: number;
  test_pairs: number;
}

/** Bytes the translation generator holds at its peak, by what holds them. */
export interface TranslationBytes {
  /**
   * Rows as built: float32 ids in `x`, int32 tokens, the uint8 target mask
   * and the int32 label of every training and test row.
   */
  samples: number;
  /**
   * The pairs as JS strings while they are encoded (UTF-16, with object
   * overhead), and the training sources again in the set that keeps them out
   * of the test split.
   */
  generator: number;
  total: number;
}

// A pair's two strings and its object, in V8: 2 bytes a character plus
// headers; 100 bytes covers the headers and the array slot.
const PAIR_OVERHEAD_BYTES = 100;

/** Peak bytes `makeTranslationDataset(spec)` allocates. */
export function translationBytes(spec: TranslationSizeInput): TranslationBytes {
  const rows = spec.pairs + spec.test_pairs;
  const t = TRANSLATION_LENGTH;
  const samples = rows * (9 * t + 4);
  // Training pairs are garbage once encoded; test pairs stay as BLEU references.
  const generator = 2 * rows * (2 * t + PAIR_OVERHEAD_BYTES);
  return { samples, generator, total: samples + generator };
}
