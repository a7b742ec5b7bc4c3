/**
 * Data-parallel training (src/engine/parallel/) against the single-thread
 * run: real shard workers, each with its own wasm backend. The two runs add
 * the same per-sample terms in a different order, so they agree to float
 * rounding (small nets without many ReLU kinks stay close over epochs).
 */
import assert from "node:assert/strict";
import {
  type Checkpoint,
  EngineError,
  initBackend,
  type JobSpec,
  MemoryCoefficientStore,
  train,
} from "../src/engine/mod.ts";
import { shardRanges } from "../src/engine/parallel/shard_messages.ts";
import { ShardPool } from "../src/engine/parallel/shard_pool.ts";
import {
  dataFor,
  relativeError,
  specFor,
  TEST_LR,
  trainRecording,
} from "./_engine.ts";

const FNGD = {
  name: "fngd",
  lr: TEST_LR.fngd,
  momentum: 0.9,
  damping: 1,
  staleness_samples: 1,
} as const;

/**
 * The final weights and result of `spec` on `threads` threads, and how many
 * shard workers were running while it trained.
 */
async function run(spec: JobSpec, threads: number) {
  await initBackend("wasm");
  let weights: Record<string, Float32Array> = {};
  let shards = 0;
  const { result, events } = await trainRecording(spec, {
    threads,
    onCheckpoint: (cp) => {
      shards = Math.max(shards, ShardPool.live);
      weights = Object.fromEntries(
        Object.entries(cp.weights).map(([k, v]) => [k, v.data]),
      );
      return Promise.resolve();
    },
  });
  const logs = events.flatMap((e) => e.type === "log" ? [e.data.message] : []);
  return { weights, result, logs, shards };
}

async function assertSameRun(spec: JobSpec, tolerance: number) {
  const one = await run(spec, 1);
  const two = await run(spec, 2);
  assert.deepEqual(two.logs.filter((m) => /thread/.test(m)), []);
  // The two-thread run really had a shard worker (and the other none).
  assert.equal(one.shards, 0);
  assert.equal(two.shards, 1);
  assert.deepEqual(Object.keys(two.weights), Object.keys(one.weights));
  for (const [name, w] of Object.entries(one.weights)) {
    const err = relativeError(two.weights[name], w);
    assert.ok(err < tolerance, `${name}: relative error ${err}`);
  }
  // The same solves and Gram matrices, counted once per (batch, layer).
  assert.deepEqual(two.result.counters, one.result.counters);
  assert.equal(ShardPool.live, 0, "every shard worker was terminated");
  const l1 = one.result.final.train_loss, l2 = two.result.final.train_loss;
  assert.ok(Math.abs(l1 - l2) <= tolerance * Math.abs(l1), `${l1} vs ${l2}`);
}

Deno.test("shardRanges cuts rows into contiguous ranges differing by at most one", () => {
  assert.deepEqual(shardRanges(10, 3), [[0, 4], [4, 7], [7, 10]]);
  assert.deepEqual(shardRanges(128, 2), [[0, 64], [64, 128]]);
  assert.deepEqual(shardRanges(1, 1), [[0, 1]]);
});

for (
  const [label, optimizer] of [
    ["sgd", { name: "sgd", lr: TEST_LR.sgd, momentum: 0.9 }],
    ["adamw", { name: "adamw", lr: TEST_LR.adamw }],
    ["fngd (inversion, inverse-free and probe steps)", FNGD],
    ["fngd refresh auto", { ...FNGD, refresh: "auto" }],
    ["ngd", { name: "ngd", lr: TEST_LR.ngd, momentum: 0.9, damping: 1 }],
  ] as const
) {
  Deno.test(`two threads train a dense net as one does: ${label}`, async () => {
    await assertSameRun(specFor("dense", optimizer), 1e-4);
  });
}

Deno.test("two threads train a conv net as one does: fngd", async () => {
  await assertSameRun(specFor("conv", FNGD), 1e-4);
});

Deno.test("a last batch smaller than the pool steps on fewer shards", async () => {
  // 72 training rows in batches of 71: the second batch has one row.
  await assertSameRun(specFor("dense", FNGD, { batch_size: 71 }), 1e-4);
});

Deno.test("runs that cannot be split train on one thread and say why", async (t) => {
  const cases = [
    [
      "kfac",
      specFor("dense", { name: "kfac", lr: TEST_LR.kfac }),
      /kfac preconditions with whole-batch factors/,
    ],
    [
      "batch norm",
      specFor("residual", { name: "sgd", lr: TEST_LR.sgd }, { epochs: 1 }),
      /batch normalization/,
    ],
    [
      "dropout",
      specFor("dense", { name: "sgd", lr: TEST_LR.sgd }, {
        epochs: 1,
        model: {
          input_shape: [12],
          layers: [
            { type: "dense", units: 8, activation: "tanh" },
            { type: "dropout", rate: 0.25 },
            { type: "dense", units: 4 },
          ],
        },
      }),
      /dropout draws one mask per batch/,
    ],
  ] as const;
  for (const [label, spec, why] of cases) {
    await t.step(label, async () => {
      const one = await run(spec, 1);
      const two = await run(spec, 2);
      assert.equal(two.logs.length, one.logs.length + 1);
      assert.match(two.logs.find((m) => /thread/.test(m))!, why);
      assert.equal(two.shards, 0);
      // The one-thread path, unchanged: identical weights.
      for (const [name, w] of Object.entries(one.weights)) {
        assert.deepEqual(two.weights[name], w);
      }
    });
  }
});

Deno.test("a shard that fails to start fails the pool instead of hanging", async () => {
  const spec = specFor("dense", FNGD);
  await assert.rejects(
    ShardPool.start(1, {
      backend: "tensorflow",
      model: spec.model,
      seed: 1,
      loss: spec.loss,
      split: {
        x: new Float32Array(12),
        count: 1,
        inputShape: [12],
        targetWidth: 12,
      },
    }),
    /data-parallel shard failed: .*tensorflow/,
  );
});

Deno.test("a two-thread fngd run resumed from its checkpoint reuses the stored coefficients and ends where the whole run ends", async () => {
  await initBackend("wasm");
  const spec = specFor("dense", FNGD);
  const store = new MemoryCoefficientStore();
  const checkpoints: Checkpoint[] = [];
  const whole = await trainRecording(spec, {
    threads: 2,
    store,
    onCheckpoint: (cp) => Promise.resolve(void checkpoints.push(cp)),
  });
  const resumed = await trainRecording(spec, {
    threads: 2,
    store,
    resumeFrom: checkpoints[1],
  });
  // No re-solve: epoch 3 reuses epoch one's coefficients from the store.
  assert.equal(resumed.result.counters.solves, whole.result.counters.solves);
  assert.equal(
    resumed.result.final.train_loss,
    whole.result.final.train_loss,
  );
});

Deno.test("cancelling a two-thread run stops it within a step and closes its shards", async () => {
  await initBackend("wasm");
  const spec = specFor("dense", FNGD, { epochs: 50 });
  const controller = new AbortController();
  await assert.rejects(
    train(spec, dataFor(spec), {
      threads: 2,
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === "epoch") controller.abort();
      },
    }),
    (e) =>
      e instanceof EngineError && e.code === "cancelled" &&
      /epoch 2,/.test(e.message),
  );
  assert.equal(ShardPool.live, 0, "every shard worker was terminated");
});
