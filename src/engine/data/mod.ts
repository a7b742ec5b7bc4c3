/**
 * Datasets for the engine: IDX and CSV parsing, seeded synthetic data, and
 * token sequences (parallel text, the synthetic translation task, the tokenizer).
 */
export * from "./idx.ts";
export * from "./csv.ts";
export * from "./synthetic.ts";
export * from "./tokenizer.ts";
export * from "./sequences.ts";
export * from "./parallel_text.ts";
export * from "./translation.ts";
export {
  TRANSLATION_LENGTH,
  TRANSLATION_VOCABULARY_SIZE,
  translationBytes,
} from "./translation_size.ts";
export {
  isoDate,
  longDate,
  numberToWords,
  TASK_MARKERS,
} from "./translation_words.ts";
