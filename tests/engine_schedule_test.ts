/**
 * Learning-rate schedules: values against hand-computed numbers, the rate in
 * the events, validation, and that a schedule changes exactly the rate every
 * optimizer steps with, also across a resume.
 */
import assert from "node:assert/strict";
import {
  type Checkpoint,
  initBackend,
  JobSpec,
  type JobSpecInput,
  MemoryCoefficientStore,
  OPTIMIZER_NAMES,
  type ScheduleSpec,
} from "../src/engine/mod.ts";
import { learningRateAt } from "../src/engine/schedule.ts";
import { specFor, TEST_LR, trainRecording } from "./_engine.ts";

const close = (a: number, b: number) =>
  Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b));

Deno.test("schedules give the hand-computed learning rates", async (t) => {
  const layout = { stepsPerEpoch: 4, epochs: 3 };
  const at = (schedule: ScheduleSpec) =>
    Array.from(
      { length: 12 },
      (_, s) => learningRateAt(schedule, 0.2, s, layout),
    );
  await t.step("constant", () => {
    assert.deepEqual(at({ name: "constant" }), new Array(12).fill(0.2));
  });
  await t.step("cosine with one warmup epoch", () => {
    // Warmup: 0.2 * (s + 1) / 4. Then 0.1 * (1 + cos(pi * (s - 4) / 8)).
    const want = [
      0.05,
      0.1,
      0.15,
      0.2,
      0.2,
      0.1 * (1 + 0.9238795325112867), // cos(pi / 8)
      0.1 * (1 + Math.SQRT1_2),
      0.1 * (1 + 0.3826834323650898),
      0.1,
      0.1 * (1 - 0.3826834323650898),
      0.1 * (1 - Math.SQRT1_2),
      0.1 * (1 - 0.9238795325112867),
    ];
    at({ name: "cosine", warmup_epochs: 1 }).forEach((v, s) =>
      assert.ok(close(v, want[s]), `step ${s}: ${v} vs ${want[s]}`)
    );
  });
  await t.step("cosine without warmup starts at lr and ends near 0", () => {
    const v = at({ name: "cosine", warmup_epochs: 0 });
    assert.equal(v[0], 0.2);
    assert.ok(close(v[6], 0.1));
    assert.ok(close(v[11], 0.1 * (1 + Math.cos(Math.PI * 11 / 12))));
  });
  await t.step("step: decays after each milestone epoch", () => {
    const v = at({ name: "step", milestones: [1, 2], gamma: 0.5 });
    assert.deepEqual(v, [
      ...new Array(4).fill(0.2),
      ...new Array(4).fill(0.1),
      ...new Array(4).fill(0.05),
    ]);
  });
});

Deno.test("schedules that do not fit the run are refused, naming the JSON path", () => {
  const base = specFor("dense", { name: "sgd" }, { epochs: 5 });
  const cases: [JobSpecInput["schedule"], (string | number)[], RegExp][] = [
    [
      { name: "step", milestones: [2, 6] },
      ["schedule", "milestones", 1],
      /at most epochs \(5\), got 6/,
    ],
    [
      { name: "step", milestones: [3, 2] },
      ["schedule", "milestones", 1],
      /strictly increasing, got 2 after 3/,
    ],
    [
      { name: "cosine", warmup_epochs: 5 },
      ["schedule", "warmup_epochs"],
      /less than epochs \(5\), got 5/,
    ],
  ];
  for (const [schedule, path, message] of cases) {
    const issues = JobSpec.safeParse({ ...base, schedule }).error?.issues;
    assert.equal(issues?.length, 1, JSON.stringify(schedule));
    assert.deepEqual(issues[0].path, path);
    assert.match(issues[0].message, message);
  }
  assert.ok(
    JobSpec.safeParse({
      ...base,
      schedule: { name: "step", milestones: [1, 5] },
    }).success,
  );
});

Deno.test("step and epoch events carry the schedule's learning rate", async () => {
  await initBackend("wasm");
  const spec = specFor("dense", { name: "fngd", lr: 0.1 }, {
    epochs: 3,
    schedule: { name: "cosine", warmup_epochs: 1 },
  });
  const { events, steps } = await trainRecording(spec);
  const perEpoch = steps.length / 3;
  const layout = { stepsPerEpoch: perEpoch, epochs: 3 };
  steps.forEach((s, i) => {
    assert.equal(s.lr, learningRateAt(spec.schedule, 0.1, i, layout));
  });
  assert.equal(steps[perEpoch - 1].lr, 0.1); // warmup reaches lr
  const epochs = events.flatMap((e) => e.type === "epoch" ? [e.data] : []);
  epochs.forEach((e) => assert.equal(e.lr, steps[e.epoch * perEpoch - 1].lr));
});

Deno.test("a step schedule equals a run whose lr is changed by hand at the milestone", async (t) => {
  await initBackend("wasm");
  const lr = TEST_LR;
  for (const name of OPTIMIZER_NAMES) {
    await t.step(name, async () => {
      const optimizer = { name, lr: lr[name] } as JobSpecInput["optimizer"];
      const store = new MemoryCoefficientStore();
      const scheduled = await trainRecording(
        specFor("dense", optimizer, {
          epochs: 2,
          schedule: { name: "step", milestones: [1], gamma: 0.25 },
        }),
        { store },
      );
      // By hand: epoch 1 at lr, then resume epoch 2 with lr / 4.
      const checkpoints: Checkpoint[] = [];
      const handStore = new MemoryCoefficientStore();
      const first = await trainRecording(
        specFor("dense", optimizer, { epochs: 1 }),
        {
          store: handStore,
          onCheckpoint: (cp) => Promise.resolve(void checkpoints.push(cp)),
        },
      );
      const second = await trainRecording(
        specFor(
          "dense",
          { ...optimizer, lr: lr[name] / 4 } as JobSpecInput["optimizer"],
          { epochs: 2 },
        ),
        { store: handStore, resumeFrom: checkpoints[0] },
      );
      const hand = [...first.steps, ...second.steps];
      assert.deepEqual(
        scheduled.steps.map((s) => [s.loss, s.lr]),
        hand.map((s) => [s.loss, s.lr]),
      );
      assert.equal(
        scheduled.result.final.val_loss,
        second.result.final.val_loss,
      );
    });
  }
});

Deno.test("a resumed run takes the same scheduled rates as the uninterrupted one", async () => {
  await initBackend("wasm");
  const spec = specFor("dense", {
    name: "fngd",
    lr: 0.05,
    momentum: 0.9,
  }, { epochs: 3, schedule: { name: "cosine", warmup_epochs: 1 } });
  const store = new MemoryCoefficientStore();
  const checkpoints: Checkpoint[] = [];
  const full = await trainRecording(spec, {
    store,
    onCheckpoint: (cp) => Promise.resolve(void checkpoints.push(cp)),
  });
  const resumed = await trainRecording(spec, {
    store,
    resumeFrom: checkpoints[0],
  });
  const later = full.steps.filter((s) => s.epoch >= 2);
  assert.deepEqual(
    resumed.steps.map((s) => [s.loss, s.lr]),
    later.map((s) => [s.loss, s.lr]),
  );
  assert.equal(resumed.result.final.val_loss, full.result.final.val_loss);
});
