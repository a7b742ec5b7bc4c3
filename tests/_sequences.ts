/**
 * Token-sequence fixtures for the Transformer tests, built here so that they
 * do not depend on the data side's generators (src/engine/data/).
 *
 * The contract the trainer reads (`Dataset.sequences`, a `SequenceData` in
 * src/engine/types.ts):
 * - `tokens`: Int32Array [N, T] of ids, each row "BEGIN source SEP target
 *   END" padded with PAD = 0 (begin 1, sep 2, end 3, unk 4, words from 5);
 * - `targetMask`: Uint8Array [N, T], 1 where token t is a target token (the
 *   target's words and END), which the model predicts from position t - 1;
 *   0 for BEGIN, source, SEP and padding, so column 0 is always 0;
 * - the Dataset's own fields as for samples: `sampleShape` [T], `classes`
 *   the vocabulary size, `x` the ids as floats, `y` unused.
 * The model's input is the (M, T) int32 ids; its output (M, T, vocab)
 * logits; the loss `sequence_cross_entropy` sums a sequence's target-token
 * cross-entropies and averages over sequences.
 */
import {
  type Dataset,
  type EngineEvent,
  JobSpec,
  type JobSpecInput,
  type SequenceData,
  type StepEventData,
  train,
  type TrainOptions,
  type TrainResult,
} from "../src/engine/mod.ts";
import { Rng } from "../src/engine/rng.ts";

/** Token ids of the tokenizer's special symbols. */
export const PAD = 0, BEGIN = 1, SEP = 2, END = 3;
/** First id of an ordinary word. */
const FIRST_WORD = 5;

/** Vocabulary and sequence length of the fixtures. */
export const VOCAB = 12;
export const LENGTH = 8;

/**
 * A one-block decoder-only Transformer: token and position embeddings, a
 * pre-norm attention block and a pre-norm MLP block, then position-wise
 * logits over the vocabulary.
 */
export function transformerModel(
  options: { length?: number; causal?: boolean } = {},
) {
  return {
    input_shape: [options.length ?? LENGTH],
    layers: [
      { type: "embedding", vocab: VOCAB, dim: 8 },
      { type: "position_embedding", max_length: 10 },
      {
        type: "residual",
        layers: [
          { type: "layer_norm" },
          {
            type: "multi_head_attention",
            heads: 2,
            causal: options.causal ?? true,
          },
        ],
      },
      {
        type: "residual",
        layers: [
          { type: "layer_norm" },
          { type: "dense", units: 12, activation: "gelu" },
          { type: "dense", units: 8 },
        ],
      },
      { type: "dense", units: VOCAB },
    ],
  } as const;
}

/**
 * `n` seeded rows "BEGIN source SEP reversed-source END", sources of 1 to 2
 * words, so every row has padding at the end of its T = 8 positions.
 */
export function makeSequences(n: number, seed = 5): Dataset {
  const rng = new Rng(seed);
  const tokens = new Int32Array(n * LENGTH);
  const targetMask = new Uint8Array(n * LENGTH);
  for (let i = 0; i < n; i++) {
    const source = Array.from(
      { length: 1 + rng.int(2) },
      () => FIRST_WORD + rng.int(VOCAB - FIRST_WORD),
    );
    const target = [...source].reverse();
    const row = [BEGIN, ...source, SEP, ...target, END];
    row.forEach((id, t) => {
      tokens[i * LENGTH + t] = id;
      if (t > source.length + 1) targetMask[i * LENGTH + t] = 1;
    });
  }
  const sequences: SequenceData = {
    length: LENGTH,
    tokens,
    targetMask,
    vocabulary: {
      tokenizer: "word",
      tokens: Array.from({ length: VOCAB }, (_, i) => `w${i}`),
    },
  };
  return {
    x: Float32Array.from(tokens),
    y: new Int32Array(n),
    sampleShape: [LENGTH],
    classes: VOCAB,
    sequences,
  };
}

/** A job spec for the Transformer on `samples` fixture rows (the dataset field is a placeholder). */
export function sequenceSpec(
  optimizer: JobSpecInput["optimizer"],
  extra: Partial<JobSpecInput> = {},
): JobSpec {
  return JobSpec.parse({
    model: transformerModel(),
    // The trainer reads the Dataset it is given; the spec must still name one.
    dataset: { name: "synthetic", samples: 24, features: 8, classes: 2 },
    loss: "sequence_cross_entropy",
    optimizer,
    epochs: 3,
    batch_size: 6,
    seed: 7,
    validation_split: 0.25,
    ...extra,
  });
}

/** Trains on `data` (24 fixture rows unless given) and records every event. */
export async function trainSequences(
  spec: JobSpec,
  options: TrainOptions = {},
  data: Dataset = makeSequences(24),
): Promise<
  { result: TrainResult; events: EngineEvent[]; steps: StepEventData[] }
> {
  const events: EngineEvent[] = [];
  const result = await train(spec, data, {
    stepEventIntervalMs: 0,
    ...options,
    onEvent: async (e) => {
      events.push(e);
      await options.onEvent?.(e);
    },
  });
  const steps = events.flatMap((e) => e.type === "step" ? [e.data] : []);
  return { result, events, steps };
}
