/**
 * examples/transformer_translation.json: admitted by the API as it stands,
 * and, shrunk to a few pairs and one epoch (the model exactly as in the
 * file), trained through the API by a real worker and in this process by the
 * engine, with the same numbers. The engine-format export downloaded over
 * the API reloads and reproduces the reported validation and test metrics
 * exactly, test_bleu from translate's strings.
 */
import assert from "node:assert/strict";
import { isTerminalStatus } from "../db/mod.ts";
import {
  corpusBleuOfTexts,
  initBackend,
  JobSpec,
  loadEngineTranslator,
  type ModelArtifacts,
  train,
  translate,
} from "../src/engine/mod.ts";
import { makeTranslationDataset } from "../src/engine/data/translation.ts";
import { splitData } from "../src/engine/batches.ts";
import { evaluate } from "../src/engine/evaluate.ts";
import { postJob, startApi } from "./_api.ts";
import { startWorker } from "./_worker.ts";
import { waitFor } from "./_process.ts";

const FILE = "transformer_translation.json";

/** The example config as the file has it. */
const example: Record<string, unknown> = JSON.parse(
  Deno.readTextFileSync(new URL(`../examples/${FILE}`, import.meta.url)),
);

/**
 * The example for a quick run: 64 pairs (61 training rows: one step of
 * batch 64, and an inversion step of this model takes about 10 s on two cores),
 * 8 test pairs, one epoch; the model, loss, optimizer, batch size, seed and
 * validation split as in the file (3 validation rows). BLEU decodes the test
 * and validation rows greedily, a forward pass per position, and a model this
 * little trained may run each to the row's end: hence so few.
 */
const shrunk = {
  ...example,
  dataset: { ...example.dataset as object, pairs: 64, test_pairs: 8 },
  epochs: 1,
};

Deno.test(`examples/${FILE} is admitted by POST /v1/jobs as it stands, with the default MAX_JOB_BYTES`, async () => {
  const api = await startApi();
  try {
    assert.equal(api.options.maxJobBytes, 3 * 1024 ** 3);
    const res = await postJob(api, example);
    const body = await res.text();
    assert.equal(res.status, 201, body);
  } finally {
    await api.close();
  }
});

Deno.test(`examples/${FILE}, shrunk, trains through the API with a real worker as with the engine, and GET /v1/jobs/{id}/model reproduces its metrics and test_bleu`, async (t) => {
  await initBackend("wasm");
  const spec = JobSpec.parse(shrunk);
  assert.deepEqual(spec.model, JobSpec.parse(example).model);
  // The pairs the worker generates from the same spec.
  const data = makeTranslationDataset(
    spec.dataset as Parameters<typeof makeTranslationDataset>[0],
  );
  const api = await startApi();
  let worker: ReturnType<typeof startWorker> | undefined;
  try {
    const res = await postJob(api, shrunk);
    const created = await res.json();
    assert.equal(res.status, 201, JSON.stringify(created));
    const id = created.id as string;
    worker = startWorker(api.tdb);
    const job = await waitFor(
      async () => {
        const j = await (await api.call(`/v1/jobs/${id}`)).json();
        return isTerminalStatus(j.status) ? j : undefined;
      },
      120_000,
      `job ${id} to finish`,
      200,
    );
    assert.equal(job.status, "succeeded", worker.output());
    // The engine trains the same job here once the worker is done: side by
    // side, the two runs contend for the cores and take longer in all.
    let local: ModelArtifacts | undefined;
    const engine = await train(spec, data, {
      saveModel: (a) => Promise.resolve(void (local = a)),
    });
    const final = job.result.final as Record<string, number>;
    const modelJson = await (await api.call(`/v1/jobs/${id}/model`)).json();
    const weights = await api.call(`/v1/jobs/${id}/model/weights.bin`);
    assert.equal(weights.status, 200);
    const weightData = new Uint8Array(await weights.arrayBuffer());

    await t.step(
      "its result has test_bleu (in [0, 1]) and test_accuracy",
      () => {
        const bleu = final.test_bleu;
        assert.equal(typeof bleu, "number", JSON.stringify(final));
        assert.ok(bleu >= 0 && bleu <= 1, `test_bleu ${bleu}`);
        assert.equal(typeof final.test_accuracy, "number");
      },
    );

    await t.step("its epoch event has val_bleu", async () => {
      const page = await (await api.call(`/v1/jobs/${id}/events?limit=1000`))
        .json();
      assert.equal(page.has_more, false);
      const epochs =
        (page.data as { type: string; data: { val_bleu?: number } }[])
          .filter((e) => e.type === "epoch");
      assert.equal(epochs.length, 1);
      assert.equal(typeof epochs[0].data.val_bleu, "number");
      assert.equal(epochs[0].data.val_bleu, final.val_bleu);
    });

    // Same seed, same backend, same data: the same run in either process.
    await t.step(
      "the engine in this process reports the same metrics and weights",
      () => {
        assert.deepEqual(final, engine.final);
        assert.deepEqual(weightData, local!.weightData);
      },
    );

    const loaded = loadEngineTranslator({ modelJson, weightData });
    try {
      await t.step(
        "the downloaded export reproduces the validation and test metrics",
        () => {
          const { val, test } = splitData(
            data,
            spec,
            loaded.model.inputShape,
            loaded.model.outputUnits,
          );
          const v = evaluate(loaded.model, val!, spec.loss);
          const e = evaluate(loaded.model, test!, spec.loss);
          assert.deepEqual({
            val_loss: v.loss,
            val_accuracy: v.accuracy,
            val_exact_match: v.exactMatch,
            test_accuracy: e.accuracy,
            test_exact_match: e.exactMatch,
          }, {
            val_loss: final.val_loss,
            val_accuracy: final.val_accuracy,
            val_exact_match: final.val_exact_match,
            test_accuracy: final.test_accuracy,
            test_exact_match: final.test_exact_match,
          });
        },
      );
      await t.step(
        "translate() with the downloaded export reproduces test_bleu exactly",
        () => {
          const pairs = data.sequences!.test!.pairs;
          assert.equal(pairs.length, 8);
          const hypotheses = translate(
            loaded.model,
            loaded.tokenizer!,
            pairs.map((p) => p.source),
          );
          assert.equal(
            corpusBleuOfTexts(hypotheses, pairs.map((p) => p.target)).bleu,
            final.test_bleu,
          );
        },
      );
    } finally {
      loaded.model.dispose();
    }
  } finally {
    await worker?.stop("SIGTERM");
    await api.close();
  }
});
