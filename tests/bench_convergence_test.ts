/**
 * The convergence suite's pure parts: time to target, the equal-time
 * budget, seed-mean curves, the tuning search (with a stand-in for
 * training) and the SVG renderer. Epoch seconds are binary fractions so sums
 * are exact.
 */
import assert from "node:assert/strict";
import {
  bestWithin,
  type EpochPoint,
  equalTimeBudget,
  meanCurve,
  spread,
  summarizeBestWithin,
  summarizeTimeToTarget,
  timeToTarget,
} from "../bench/convergence_metrics.ts";
import { tuneOptimizer } from "../bench/convergence_tune.ts";
import { FULL_GRID, pointsOf } from "../bench/convergence_tasks.ts";
import { renderLinesSvg } from "../bench/plot_svg.ts";
import type { BenchConfig } from "../bench/config_bench.ts";
import type { Row } from "../bench/rows.ts";
import type { EpochEventData } from "../src/engine/mod.ts";

/** Points from [seconds, value] pairs, epochs numbered from 1. */
const run = (...pairs: [number, number | null][]): EpochPoint[] =>
  pairs.map(([seconds, value], i) => ({ epoch: i + 1, seconds, value }));

Deno.test("timeToTarget: first epoch at or past the target, seconds summed up to it", () => {
  const r = run([0.5, 0.7], [0.25, 0.85], [0.25, 0.9]);
  assert.deepEqual(timeToTarget(r, 0.85, "higher"), {
    epochs: 2,
    seconds: 0.75,
  });
  assert.deepEqual(timeToTarget(r, 0.9, "higher"), { epochs: 3, seconds: 1 });
  assert.equal(timeToTarget(r, 0.95, "higher"), undefined);
  // Lower is better: reconstruction error.
  const e = run([1, 80], [1, 45], [1, 39]);
  assert.deepEqual(timeToTarget(e, 40, "lower"), { epochs: 3, seconds: 3 });
  // A missing or NaN metric never reaches it.
  assert.equal(timeToTarget(run([1, null], [1, NaN]), 0, "higher"), undefined);
});

Deno.test("summarizeTimeToTarget: mean over the seeds that reached it", () => {
  const runs = [
    run([0.5, 0.9]),
    run([0.5, 0.8], [1, 0.9]),
    run([0.5, 0.1], [0.5, 0.2]),
  ];
  assert.deepEqual(summarizeTimeToTarget(runs, 0.9, "higher"), {
    reached: 2,
    of: 3,
    epochs: 1.5,
    seconds: 1,
  });
  assert.deepEqual(summarizeTimeToTarget(runs, 0.95, "higher"), {
    reached: 0,
    of: 3,
  });
});

Deno.test("equal time: budget is the smallest mean total, best metric within it", () => {
  const fast = [run([0.5, 0.6], [0.5, 0.7]), run([0.75, 0.65], [0.75, 0.8])];
  const slow = [run([1, 0.8], [1, 0.85]), run([1, 0.75], [1, 0.9])];
  const budget = equalTimeBudget([fast, slow]);
  assert.equal(budget, 1.25);
  // The fast optimizer's second seed ran 1.5 s, so only its first epoch counts.
  assert.equal(bestWithin(fast[1], budget, "higher"), 0.65);
  assert.deepEqual(summarizeBestWithin(fast, budget, "higher"), {
    within: 2,
    of: 2,
    mean: 0.675,
  });
  assert.deepEqual(summarizeBestWithin(slow, budget, "higher"), {
    within: 2,
    of: 2,
    mean: 0.775,
  });
  // No epoch ended within the budget.
  assert.deepEqual(summarizeBestWithin(slow, 0.5, "higher"), {
    within: 0,
    of: 2,
  });
  // Lower is better.
  assert.equal(bestWithin(run([1, 50], [1, 30], [1, 20]), 2, "lower"), 30);
  assert.ok(Number.isNaN(equalTimeBudget([])));
});

Deno.test("meanCurve: seed means at the mean cumulative seconds; a diverged seed drops out", () => {
  const curve = meanCurve([
    run([1, 0.5], [1, 0.75], [1, 0.875]),
    run([2, 0.25], [2, NaN]),
  ]);
  assert.deepEqual(curve, [
    { epoch: 1, seconds: 1.5, value: 0.375 },
    { epoch: 2, seconds: 3, value: 0.75 },
    { epoch: 3, seconds: 3, value: 0.875 },
  ]);
  assert.deepEqual(spread([0.5, undefined, 0.75, NaN, 1]), {
    mean: 0.75,
    min: 0.5,
    max: 1,
    n: 3,
  });
  assert.equal(spread([undefined]), undefined);
});

/** A stand-in row whose one epoch reports `val` as its validation accuracy. */
function fakeRow(
  name: string,
  val: number,
  error?: string,
  valLoss = 1,
): Row {
  const epoch = {
    epoch: 1,
    phase: "train",
    steps: 1,
    seconds: 0.5,
    train_loss: 1,
    val_loss: valLoss,
    val_accuracy: val,
    lr: 0.1,
  } as EpochEventData;
  return { name, epochs: [epoch], testAccuracy: val, error };
}

Deno.test("tuneOptimizer: lr grid at default damping, then damping at the best lr", async () => {
  const cfg = {
    input: JSON.parse(
      await Deno.readTextFile(
        new URL("../bench/convergence_synthetic.json", import.meta.url),
      ),
    ),
  } as BenchConfig;
  const tried: string[] = [];
  // Best at lr = 2x default (0.2) and damping 10x default (10); lr 0.4 diverges.
  const score = (variant: string): Row => {
    tried.push(variant);
    const fields = Object.fromEntries(
      variant.split(":").slice(1).map((p) => p.split("=")),
    );
    const lr = Number(fields.lr);
    if (lr === 0.4) return fakeRow(variant, NaN, "diverged: loss is NaN");
    return fakeRow(
      variant,
      1 - Math.abs(Math.log2(lr / 0.2)) / 10 +
        (fields.damping === "10" ? 0.05 : 0),
    );
  };
  const val = (r: Row) =>
    r.error ? undefined : pointsOf(r, "accuracy")[0].value!;
  const t = await tuneOptimizer(
    cfg,
    "fngd:refresh=auto",
    FULL_GRID,
    "higher",
    (v) => Promise.resolve(score(v)),
    val,
  );
  assert.deepEqual(tried, [
    "fngd:refresh=auto:lr=0.025:damping=1",
    "fngd:refresh=auto:lr=0.05:damping=1",
    "fngd:refresh=auto:lr=0.1:damping=1",
    "fngd:refresh=auto:lr=0.2:damping=1",
    "fngd:refresh=auto:lr=0.4:damping=1",
    "fngd:refresh=auto:lr=0.2:damping=0.1",
    "fngd:refresh=auto:lr=0.2:damping=10",
  ]);
  assert.equal(t.chosen.variant, "fngd:refresh=auto:lr=0.2:damping=10");
  assert.equal(t.row.name, t.chosen.variant);
  assert.equal(t.trials[4].val, undefined);
  assert.deepEqual(t.defaults, {
    lr: 0.1,
    dampingField: "damping",
    damping: 1,
  });

  // No damping: only the lr grid; Shampoo's damping is its epsilon.
  tried.length = 0;
  await tuneOptimizer(
    cfg,
    "sgd",
    FULL_GRID,
    "higher",
    (v) => Promise.resolve(score(v)),
    val,
  );
  assert.equal(tried.length, 5);
  tried.length = 0;
  const s = await tuneOptimizer(
    cfg,
    "shampoo",
    { lr: [1], damping: [1, 10] },
    "higher",
    (v) => Promise.resolve(score(v)),
    val,
  );
  assert.deepEqual(tried, [
    "shampoo:lr=0.1:epsilon=0.0001",
    "shampoo:lr=0.1:epsilon=0.001",
  ]);
  assert.equal(s.defaults.dampingField, "epsilon");
});

Deno.test("renderLinesSvg: an <svg> with one line path per optimizer", async () => {
  const series = ["sgd", "fngd", "kfac"].map((name, i) => ({
    name,
    points: [1, 2, 3].map((x) => ({ x, y: 0.5 + 0.1 * i + 0.01 * x })),
  }));
  const svg = await renderLinesSvg({
    title: "mlp",
    xTitle: "epoch",
    yTitle: "validation accuracy",
    series,
  });
  assert.ok(svg.startsWith("<svg"));
  assert.equal(svg.match(/aria-roledescription="line mark"/g)?.length, 3);
  for (const name of ["sgd", "fngd", "kfac"]) {
    assert.ok(svg.includes(`>${name}</text>`), `legend names ${name}`);
  }
});

Deno.test("tuneOptimizer: equal metrics (e.g. BLEU 0) go to the lower validation loss", async () => {
  const cfg = {
    input: JSON.parse(
      await Deno.readTextFile(
        new URL("../bench/convergence_synthetic.json", import.meta.url),
      ),
    ),
  } as BenchConfig;
  const losses: Record<string, number> = {
    "adamw:lr=0.0005": 3,
    "adamw:lr=0.001": 2,
    "adamw:lr=0.002": 2.5,
  };
  const t = await tuneOptimizer(
    cfg,
    "adamw",
    { lr: [1 / 2, 1, 2], damping: [1] },
    "higher",
    (v) => Promise.resolve(fakeRow(v, 0, undefined, losses[v])),
    (r) => pointsOf(r, "accuracy")[0].value!,
  );
  assert.equal(t.chosen.variant, "adamw:lr=0.001");
});
