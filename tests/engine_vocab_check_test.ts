/**
 * An embedding table smaller than the loaded data's vocabulary: train()
 * refuses it as `invalid_spec` naming the layer's `vocab`, before the first
 * batch (where tf.gather would fail with an out-of-range index), and frees
 * the model it had built.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  type Dataset,
  EngineError,
  initBackend,
  JobSpec,
  type JobSpecInput,
  Tokenizer,
  train,
} from "../src/engine/mod.ts";
import {
  TRANSLATION_LENGTH,
  TRANSLATION_VOCABULARY_SIZE,
} from "../src/engine/data/mod.ts";
import { sequenceDataset } from "../src/engine/data/sequences.ts";
import { makeTranslationDataset } from "../src/engine/data/translation.ts";

/** A job on rows of `length` tokens with `layers`, the data given to train(). */
function tokenSpec(
  length: number,
  layers: unknown[],
  extra: Partial<JobSpecInput> = {},
): JobSpec {
  return JobSpec.parse({
    model: { input_shape: [length], layers },
    // Replaced by the data passed to train(); the spec needs one.
    dataset: { name: "synthetic-translation", pairs: 64, test_pairs: 0 },
    loss: "sequence_cross_entropy",
    optimizer: { name: "fngd", lr: 0.05 },
    epochs: 1,
    batch_size: 64,
    seed: 1,
    validation_split: 0.05,
    ...extra,
  });
}

/** Resolves once train() has rejected with `invalid_spec` at `path`; returns the message. */
async function rejectsAt(
  spec: JobSpec,
  data: Dataset,
  path: string,
): Promise<string> {
  const before = tf.memory().numTensors;
  let message = "";
  await assert.rejects(
    () => train(spec, data),
    (e) => {
      assert.ok(e instanceof EngineError, String(e));
      assert.equal(e.code, "invalid_spec");
      assert.equal(e.path?.join("."), path);
      message = e.message;
      return true;
    },
  );
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  return message;
}

Deno.test("train() refuses an embedding smaller than synthetic-translation's vocabulary, naming model.layers[0].vocab", async () => {
  await initBackend("cpu");
  const n = TRANSLATION_VOCABULARY_SIZE;
  const data = makeTranslationDataset({
    name: "synthetic-translation",
    pairs: 64,
    test_pairs: 0,
    seed: 1,
  });
  assert.equal(data.sequences!.vocabulary.tokens.length, n);
  const message = await rejectsAt(
    tokenSpec(TRANSLATION_LENGTH, [
      { type: "embedding", vocab: 20, dim: 8 },
      { type: "dense", units: n },
    ]),
    data,
    "model.layers.0.vocab",
  );
  assert.equal(
    message,
    `model.layers[0].vocab: the embedding table has 20 rows but the dataset's vocabulary has ${n} tokens (ids 0 to ${
      n - 1
    }); set vocab to at least ${n}`,
  );
});

Deno.test("train() refuses an embedding smaller than a parallel-text vocabulary, and trains once it covers it", async () => {
  await initBackend("cpu");
  // Reversal of two words: a vocabulary of the 5 reserved tokens and 6 words.
  const pairs = ["a b", "c d", "e f", "a c", "b d", "e a", "f b", "c e"].map(
    (source) => ({ source, target: source.split(" ").reverse().join(" ") }),
  );
  const tokenizer = Tokenizer.build(
    "word",
    pairs.flatMap((p) => [p.source, p.target]),
  );
  const length = 10;
  const data = sequenceDataset(tokenizer, pairs, [], length);
  const size = tokenizer.size;
  const layers = (vocab: number) => [
    { type: "embedding", vocab, dim: 4 },
    { type: "dense", units: size },
  ];
  const extra = { batch_size: 4, validation_split: 0 };
  const message = await rejectsAt(
    tokenSpec(length, layers(size - 1), extra),
    data,
    "model.layers.0.vocab",
  );
  assert.match(
    message,
    new RegExp(`has ${size - 1} rows .* has ${size} tokens`),
  );
  const result = await train(tokenSpec(length, layers(size), extra), data);
  assert.ok(Number.isFinite(result.final.train_loss));
});
