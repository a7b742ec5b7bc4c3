/**
 * `lr: "auto"`: the range test picks an lr once, before epoch 1, reports it
 * in one event, and leaves no trace otherwise: the run equals one given that
 * lr, counters included; a resume reuses it; no tensors leak.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  type Checkpoint,
  type EngineEvent,
  initBackend,
  JobSpec,
  type JobSpecInput,
  MemoryCoefficientStore,
} from "../src/engine/mod.ts";
import {
  defaultLearningRate,
  rangeTestSteps,
  runRangeTest,
  SWEEP_HIGH,
  SWEEP_LOW,
} from "../src/engine/lr_range.ts";
import { AUTO_LR_SCALAR } from "../src/engine/trainer.ts";
import { specFor, trainRecording } from "./_engine.ts";

type LrRange = Extract<EngineEvent, { type: "lr_range" }>["data"];

function lrRanges(events: EngineEvent[]): LrRange[] {
  return events.flatMap((e) => e.type === "lr_range" ? [e.data] : []);
}

/** A run and its final weights' bytes, from the `saveModel` export. */
async function finalWeights(
  spec: JobSpec,
  store = new MemoryCoefficientStore(),
): Promise<
  { weights: number[]; run: Awaited<ReturnType<typeof trainRecording>> }
> {
  let weights: number[] = [];
  const run = await trainRecording(spec, {
    store,
    saveModel: (artifacts) => {
      weights = [...artifacts.weightData];
      return Promise.resolve();
    },
  });
  return { weights, run };
}

Deno.test("the range test's lr is reported once, before the first epoch, finite and inside the sweep", async () => {
  await initBackend("wasm");
  const spec = specFor("dense", { name: "sgd", lr: "auto" }, { epochs: 2 });
  const { events } = await trainRecording(spec);
  const ranges = lrRanges(events);
  assert.equal(ranges.length, 1);
  const first = events.findIndex((e) => e.type === "lr_range");
  assert.ok(first < events.findIndex((e) => e.type === "step"));
  assert.ok(first < events.findIndex((e) => e.type === "epoch"));
  const r = ranges[0];
  const reference = defaultLearningRate("sgd");
  assert.ok(Number.isFinite(r.chosen_lr));
  assert.ok(r.chosen_lr >= reference * SWEEP_LOW, `${r.chosen_lr}`);
  assert.ok(r.chosen_lr <= reference * SWEEP_HIGH, `${r.chosen_lr}`);
  assert.ok(r.steps >= 1 && r.steps <= rangeTestSteps(5));
  assert.equal(r.lrs.length, r.losses.length);
  assert.ok(r.lrs.length <= 100);
  assert.ok(r.lrs.every((v, i) => i === 0 || v > r.lrs[i - 1]));
  assert.ok(r.losses.every(Number.isFinite));
  assert.match(r.rule, /minimum smoothed loss/);
  // The epoch and step events carry the chosen lr (constant schedule).
  for (const e of events) {
    if (e.type === "step" || e.type === "epoch") {
      assert.equal(e.data.lr, r.chosen_lr);
    }
  }
});

Deno.test('a run with lr "auto" equals a run given the chosen lr', async (t) => {
  await initBackend("wasm");
  const cases: JobSpecInput["optimizer"][] = [
    { name: "sgd", lr: "auto", momentum: 0.9 },
    { name: "fngd", lr: "auto", momentum: 0.9 },
  ];
  for (const optimizer of cases) {
    await t.step(optimizer.name, async () => {
      const auto = await finalWeights(specFor("dense", optimizer));
      const [range] = lrRanges(auto.run.events);
      const explicit = await finalWeights(
        specFor("dense", { ...optimizer, lr: range.chosen_lr }),
      );
      assert.equal(lrRanges(explicit.run.events).length, 0);
      assert.deepEqual(
        auto.run.steps.map((s) => [s.loss, s.lr]),
        explicit.run.steps.map((s) => [s.loss, s.lr]),
      );
      assert.ok(auto.weights.length > 0);
      assert.deepEqual(auto.weights, explicit.weights);
      assert.deepEqual(auto.run.result.counters, explicit.run.result.counters);
      assert.deepEqual(auto.run.result.final, explicit.run.result.final);
      // Apart from the one lr_range event, the same events in the same order.
      assert.deepEqual(
        auto.run.events.filter((e) => e.type !== "lr_range").map((e) => e.type),
        explicit.run.events.map((e) => e.type),
      );
    });
  }
});

Deno.test("the range test leaves the run's coefficient store alone", async () => {
  await initBackend("wasm");
  const auto = new MemoryCoefficientStore();
  const explicit = new MemoryCoefficientStore();
  const spec = specFor("dense", { name: "fngd", lr: "auto" }, { epochs: 1 });
  const { run } = await finalWeights(spec, auto);
  const [range] = lrRanges(run.events);
  await finalWeights(
    specFor("dense", { name: "fngd", lr: range.chosen_lr }, { epochs: 1 }),
    explicit,
  );
  for (let batch = 0; batch < 5; batch++) {
    for (let layer = 0; layer < 3; layer++) {
      const a = await auto.get(batch, layer, 2);
      const b = await explicit.get(batch, layer, 2);
      assert.deepEqual(a, b, `batch ${batch}, layer ${layer}`);
    }
  }
});

Deno.test("a resume after epoch 1 reuses the chosen lr without testing again", async () => {
  await initBackend("wasm");
  const spec = specFor("dense", { name: "fngd", lr: "auto" }, { epochs: 3 });
  const store = new MemoryCoefficientStore();
  const checkpoints: Checkpoint[] = [];
  const full = await trainRecording(spec, {
    store,
    onCheckpoint: (cp) => Promise.resolve(void checkpoints.push(cp)),
  });
  const [range] = lrRanges(full.events);
  assert.equal(checkpoints[0].scalars[AUTO_LR_SCALAR], range.chosen_lr);
  const resumed = await trainRecording(spec, {
    store,
    resumeFrom: checkpoints[0],
  });
  assert.equal(lrRanges(resumed.events).length, 0);
  assert.deepEqual(
    resumed.steps.map((s) => [s.loss, s.lr]),
    full.steps.filter((s) => s.epoch >= 2).map((s) => [s.loss, s.lr]),
  );
  assert.deepEqual(resumed.result.final, full.result.final);
  assert.deepEqual(resumed.result.counters, full.result.counters);
});

Deno.test('resuming "auto" from a checkpoint without a chosen lr is refused', async () => {
  await initBackend("wasm");
  const checkpoints: Checkpoint[] = [];
  await trainRecording(
    specFor("dense", { name: "sgd", lr: 0.05 }, { epochs: 1 }),
    { onCheckpoint: (cp) => Promise.resolve(void checkpoints.push(cp)) },
  );
  await assert.rejects(
    trainRecording(specFor("dense", { name: "sgd", lr: "auto" }), {
      resumeFrom: checkpoints[0],
    }),
    (err: Error & { code?: string }) =>
      err.code === "invalid_checkpoint" && /lr\/auto/.test(err.message),
  );
});

Deno.test('lr "auto" leaks no tensors', async (t) => {
  await initBackend("wasm");
  for (const name of ["sgd", "fngd", "adamw"] as const) {
    await t.step(name, async () => {
      const before = tf.memory().numTensors;
      const counts: number[] = [];
      await trainRecording(
        specFor("dense", { name, lr: "auto" }, { epochs: 2 }),
        {
          onEvent: (e) =>
            void ((e.type === "lr_range" || e.type === "epoch") &&
              counts.push(tf.memory().numTensors)),
        },
      );
      assert.equal(new Set(counts).size, 1, `tensors ${counts}`);
      assert.equal(tf.memory().numTensors, before, "leaked after training");
    });
  }
});

Deno.test('an lr that is neither a positive number nor "auto" is refused, naming optimizer.lr', () => {
  const base = specFor("dense", { name: "sgd" });
  for (const lr of ["fast", -1, 0]) {
    for (const name of ["sgd", "fngd", "adamw"]) {
      const issues = JobSpec.safeParse({ ...base, optimizer: { name, lr } })
        .error?.issues;
      assert.equal(issues?.length, 1, `${name} ${lr}`);
      assert.deepEqual(issues[0].path, ["optimizer", "lr"]);
    }
  }
  const fast = JobSpec.safeParse({
    ...base,
    optimizer: { name: "sgd", lr: "fast" },
  }).error?.issues[0];
  assert.match(fast?.message ?? "", /"auto", got "fast"/);
  assert.equal(
    JobSpec.parse({ ...base, optimizer: { name: "kfac", lr: "auto" } })
      .optimizer.lr,
    "auto",
  );
  assert.equal(
    JobSpec.parse({ ...base, optimizer: { name: "adamw" } }).optimizer.lr,
    0.001,
  );
});

Deno.test("the range test stops early when the loss blows up", async (t) => {
  await t.step("non-finite at once", async () => {
    let calls = 0;
    const r = await runRangeTest({
      reference: 0.1,
      steps: 100,
      step: () => Promise.resolve(++calls === 1 ? 1 : NaN),
    });
    assert.equal(r.steps, 2);
    assert.equal(calls, 2);
    assert.deepEqual(r.losses, [1]);
    assert.equal(r.chosen_lr, 0.1 * SWEEP_LOW);
  });
  await t.step("growing geometrically", async () => {
    const r = await runRangeTest({
      reference: 0.1,
      steps: 100,
      step: (_lr, i) => Promise.resolve(1.5 ** i),
    });
    assert.ok(r.steps < 10, `${r.steps} steps`);
    assert.ok(r.losses.at(-1)! > 4 * Math.min(...r.losses));
    assert.equal(r.chosen_lr, 0.1 * SWEEP_LOW);
  });
  await t.step("a valley: the tenth of the minimum's lr", async () => {
    // Loss (log10 lr + 2)^2 + 1, lowest at lr 0.01; smoothing lags it a bit.
    const r = await runRangeTest({
      reference: 0.1,
      steps: 200,
      step: (lr) => Promise.resolve((Math.log10(lr) + 2) ** 2 + 1),
    });
    const min = r.lrs[r.losses.indexOf(Math.min(...r.losses))];
    assert.ok(Math.abs(r.chosen_lr * 10 / min - 1) < 0.3, `${r.chosen_lr}`);
    assert.ok(r.chosen_lr > 5e-4 && r.chosen_lr < 5e-3, `${r.chosen_lr}`);
    assert.ok(r.steps < 200);
    assert.ok(r.lrs.length <= 100);
  });
  await t.step(
    "in training: sgd's sweep to 100x its default diverges",
    async () => {
      await initBackend("wasm");
      const { events } = await trainRecording(
        specFor("dense", { name: "sgd", lr: "auto", momentum: 0.9 }, {
          epochs: 1,
        }),
      );
      const [r] = lrRanges(events);
      assert.ok(r.steps < rangeTestSteps(5), `${r.steps} steps`);
    },
  );
});
