/**
 * Text pairs encoded as a token-sequence {@link Dataset}: the rows and masks
 * of {@link SequenceData}, and the float32 copy of the ids in `x` that lets
 * generic code (counts, shape checks, the seeded split) treat a row as a
 * sample of shape `[T]`.
 */
import type { Dataset, SequenceData, TextPair } from "../types.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** `[N, T]` ids and target mask of `pairs`. */
export function encodePairs(
  tokenizer: Tokenizer,
  pairs: readonly TextPair[],
  length: number,
): { tokens: Int32Array; targetMask: Uint8Array } {
  const tokens = new Int32Array(pairs.length * length);
  const targetMask = new Uint8Array(pairs.length * length);
  pairs.forEach((p, row) =>
    tokenizer.encodePairInto(
      p.source,
      p.target,
      tokens,
      targetMask,
      row,
      length,
    )
  );
  return { tokens, targetMask };
}

/**
 * Encodes training (and test) pairs to `length` tokens a row with
 * `tokenizer`, whose vocabulary should come from the training pairs alone.
 * @throws {EngineError} `invalid_data` when a pair is longer than `length`.
 */
export function sequenceDataset(
  tokenizer: Tokenizer,
  train: readonly TextPair[],
  test: readonly TextPair[] | undefined,
  length: number,
): Dataset {
  const rows = encodePairs(tokenizer, train, length);
  const sequences: SequenceData = {
    length,
    ...rows,
    vocabulary: tokenizer.vocabulary,
  };
  const dataset: Dataset = {
    x: Float32Array.from(rows.tokens),
    y: new Int32Array(train.length),
    sampleShape: [length],
    classes: tokenizer.size,
    sequences,
  };
  if (test && test.length > 0) {
    const testRows = encodePairs(tokenizer, test, length);
    dataset.test = {
      x: Float32Array.from(testRows.tokens),
      y: new Int32Array(test.length),
    };
    sequences.test = {
      ...testRows,
      pairs: test.map((p) => ({ source: p.source, target: p.target })),
    };
  }
  return dataset;
}
