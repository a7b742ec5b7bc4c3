/**
 * BLEU in the training metrics (greedy decoding of the test sources and of
 * the validation rows), and the inference entry point `translate`.
 */
import assert from "node:assert/strict";
import {
  checkJobFits,
  type Checkpoint,
  corpusBleuOfTexts,
  datasetInfoFromSpec,
  decodeCheckpoint,
  encodeCheckpoint,
  type EngineEvent,
  initBackend,
  JobSpec,
  type JobSpecInput,
  loadEngineTranslator,
  type ModelArtifacts,
  ModelSpec,
  type TextPair,
  Tokenizer,
  train,
  translate,
} from "../src/engine/mod.ts";
import * as tf from "@tensorflow/tfjs";
import { sequenceDataset } from "../src/engine/data/sequences.ts";
import { SequentialModel } from "../src/engine/model.ts";
import { makeTranslationDataset } from "../src/engine/data/translation.ts";
import { Rng } from "../src/engine/rng.ts";

const WORDS = ["a", "b", "c", "d"];
/** Row length: one source word, SEP, four target words, BEGIN and END. */
const LENGTH = 8;

/** Source: one word; target: that word four times (so BLEU-4 has 4-grams). */
function repeatPairs(n: number, seed: number): TextPair[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const w = WORDS[rng.int(WORDS.length)];
    return { source: w, target: [w, w, w, w].join(" ") };
  });
}

function copyTask(trainRows = 64, testRows = 16) {
  const train = repeatPairs(trainRows, 3);
  const test = repeatPairs(testRows, 4);
  const tokenizer = Tokenizer.build(
    "word",
    train.flatMap((p) => [p.source, p.target]),
  );
  return {
    tokenizer,
    test,
    data: sequenceDataset(tokenizer, train, test, LENGTH),
  };
}

function modelSpec(vocab: number) {
  return {
    input_shape: [LENGTH],
    layers: [
      { type: "embedding", vocab, dim: 16 },
      { type: "position_embedding", max_length: LENGTH },
      {
        type: "residual",
        layers: [
          { type: "layer_norm" },
          { type: "multi_head_attention", heads: 2, causal: true },
        ],
      },
      {
        type: "residual",
        layers: [
          { type: "layer_norm" },
          { type: "dense", units: 32, activation: "gelu" },
          { type: "dense", units: 16 },
        ],
      },
      { type: "dense", units: vocab },
    ],
  };
}

function spec(vocab: number, extra: Partial<JobSpecInput> = {}): JobSpec {
  return JobSpec.parse({
    model: modelSpec(vocab),
    dataset: { name: "synthetic", samples: 24, features: 8, classes: 2 },
    loss: "sequence_cross_entropy",
    optimizer: { name: "adamw", lr: 0.01 },
    epochs: 30,
    batch_size: 16,
    seed: 1,
    validation_split: 0.25,
    ...extra,
  });
}

Deno.test("rows cut to w positions give the full rows' logits at those positions (greedy decoding's cut)", async () => {
  await initBackend("cpu");
  const vocab = 9;
  const model = new SequentialModel(ModelSpec.parse(modelSpec(vocab)), 5);
  const rng = new Rng(6);
  // Some rows end in padding, as prompts being decoded do.
  const ids = Int32Array.from(
    { length: 4 * LENGTH },
    (_, i) => i % LENGTH > 5 && i < 2 * LENGTH ? 0 : 1 + rng.int(vocab - 1),
  );
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const full = tf.tensor2d(ids, [4, LENGTH], "int32");
    const all = (model.forward(full) as tf.Tensor).arraySync() as number[][][];
    for (const w of [1, 3, LENGTH - 1]) {
      const cut = model.forward(tf.slice(full, [0, 0], [4, w]));
      assert.deepEqual(cut.shape, [4, w, vocab]);
      const got = (cut as tf.Tensor).arraySync() as number[][][];
      for (let i = 0; i < 4; i++) {
        for (let t = 0; t < w; t++) {
          for (let v = 0; v < vocab; v++) {
            const d = Math.abs(got[i][t][v] - all[i][t][v]);
            assert.ok(
              d <= 1e-5 * (1 + Math.abs(all[i][t][v])),
              `row ${i} t ${t}`,
            );
          }
        }
      }
    }
  });
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

Deno.test("a model that copies perfectly scores test_bleu 1 and val_bleu 1", async () => {
  await initBackend("cpu");
  const { tokenizer, data } = copyTask();
  const events: EngineEvent[] = [];
  const result = await train(spec(tokenizer.size), data, {
    onEvent: (e) => void events.push(e),
  });
  assert.equal(result.final.test_exact_match, 1);
  assert.equal(result.final.test_bleu, 1);
  assert.equal(result.final.val_bleu, 1);
  const epochs = events.flatMap((e) => e.type === "epoch" ? [e.data] : []);
  assert.equal(epochs.length, 30);
  for (const e of epochs) {
    assert.ok(typeof e.val_bleu === "number" && e.val_bleu >= 0);
  }
  assert.equal(epochs.at(-1)!.val_bleu, 1);
});

Deno.test("val_bleu_rows 0 skips val_bleu (null in epoch and result), test_bleu stays", async () => {
  await initBackend("cpu");
  const { tokenizer, data } = copyTask();
  const events: EngineEvent[] = [];
  const result = await train(
    spec(tokenizer.size, { epochs: 2, val_bleu_rows: 0 }),
    data,
    { onEvent: (e) => void events.push(e) },
  );
  const epochs = events.flatMap((e) => e.type === "epoch" ? [e.data] : []);
  assert.deepEqual(epochs.map((e) => e.val_bleu), [null, null]);
  assert.equal(result.final.val_bleu, null);
  assert.equal(typeof result.final.test_bleu, "number");
});

Deno.test("an exported and reloaded model reproduces test_bleu exactly from translate's strings", async () => {
  await initBackend("cpu");
  const { tokenizer, data, test } = copyTask();
  // Two epochs: an imperfect model, whose BLEU is not trivially 0 or 1.
  let saved: ModelArtifacts | undefined;
  const checkpoints: Checkpoint[] = [];
  const result = await train(spec(tokenizer.size, { epochs: 2 }), data, {
    saveModel: (a) => {
      saved = a;
      return Promise.resolve();
    },
    onCheckpoint: (cp) => {
      checkpoints.push(cp);
      return Promise.resolve();
    },
  });
  const testBleu = result.final.test_bleu!;
  assert.ok(testBleu > 0 && testBleu < 1, `test_bleu ${testBleu}`);
  assert.deepEqual(saved!.modelJson.vocabulary, tokenizer.vocabulary);
  const loaded = loadEngineTranslator(saved!);
  try {
    assert.deepEqual(loaded.tokenizer!.vocabulary, tokenizer.vocabulary);
    const hypotheses = translate(
      loaded.model,
      loaded.tokenizer!,
      test.map((p) => p.source),
    );
    const bleu = corpusBleuOfTexts(hypotheses, test.map((p) => p.target)).bleu;
    assert.equal(bleu, result.final.test_bleu);
  } finally {
    loaded.model.dispose();
  }
  // Checkpoints carry the vocabulary through encode and decode.
  const enc = encodeCheckpoint(checkpoints[1]);
  const dec = decodeCheckpoint(enc.weights, enc.optimizer_state);
  assert.deepEqual(dec.vocabulary, tokenizer.vocabulary);
});

Deno.test("examples/transformer_translation.json, shrunk to 200 pairs and 1 epoch, reloads and reproduces test_bleu", async () => {
  // wasm, as the CLI: the full-size model is several times slower on cpu.
  await initBackend("wasm");
  const config = JSON.parse(
    await Deno.readTextFile(
      new URL("../examples/transformer_translation.json", import.meta.url),
    ),
  );
  // As it stands, the example fits the 3 GiB a job may take.
  const full = JobSpec.parse(config);
  checkJobFits(full, 3 * 1024 ** 3, datasetInfoFromSpec(full.dataset));
  // The model exactly as in the file; the data and epochs shrunk.
  const s = JobSpec.parse({
    ...config,
    dataset: { ...config.dataset, pairs: 200, test_pairs: 24 },
    epochs: 1,
  });
  const data = makeTranslationDataset(
    s.dataset as Parameters<typeof makeTranslationDataset>[0],
  );
  let saved: ModelArtifacts | undefined;
  const events: EngineEvent[] = [];
  const result = await train(s, data, {
    saveModel: (a) => {
      saved = a;
      return Promise.resolve();
    },
    onEvent: (e) => void events.push(e),
  });
  const epoch = events.find((e) => e.type === "epoch")!.data as {
    val_bleu?: number | null;
  };
  assert.equal(typeof epoch.val_bleu, "number");
  assert.equal(typeof result.final.test_bleu, "number");
  const loaded = loadEngineTranslator(saved!);
  try {
    const pairs = data.sequences!.test!.pairs;
    const hypotheses = translate(
      loaded.model,
      loaded.tokenizer!,
      pairs.map((p) => p.source),
    );
    assert.equal(
      corpusBleuOfTexts(hypotheses, pairs.map((p) => p.target)).bleu,
      result.final.test_bleu,
    );
  } finally {
    loaded.model.dispose();
  }
});
