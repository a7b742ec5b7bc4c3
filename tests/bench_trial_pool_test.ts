/**
 * The convergence suite's parallel runs: the limiter's bound and order, and
 * the quick suite run with `--jobs 2` (children, one run each) giving the
 * same tuning and test metrics as the default in-process run.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Limiter } from "../bench/trial_pool.ts";

Deno.test("Limiter: at most n at once, served in arrival order", async () => {
  const limiter = new Limiter(2);
  let running = 0;
  let peak = 0;
  const started: number[] = [];
  const gates = Array.from({ length: 5 }, () => Promise.withResolvers<void>());
  const runs = gates.map((gate, i) =>
    limiter.run(async () => {
      started.push(i);
      running++;
      peak = Math.max(peak, running);
      await gate.promise;
      running--;
      return i;
    })
  );
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(started, [0, 1]);
  gates[1].resolve();
  await runs[1];
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(started, [0, 1, 2]);
  for (const g of gates) g.resolve();
  assert.deepEqual(await Promise.all(runs), [0, 1, 2, 3, 4]);
  assert.equal(peak, 2);
  assert.throws(() => new Limiter(0), /positive integer/);
});

/** The quick suite's report with `extra` flags; its lines without timings. */
async function quickReport(extra: string[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "trial_pool_" });
  try {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "bench/run.ts",
        "--suite",
        "convergence",
        "--quick",
        "--results-dir",
        dir,
        ...extra,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    return await Deno.readTextFile(
      join(dir, "convergence_wasm_synthetic.md"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The report's tuning and test tables, which hold no seconds. */
function metricTables(report: string): string {
  const start = report.indexOf("### Tuning");
  const end = report.indexOf("### Time to target");
  assert.ok(start > 0 && end > start, "report has the tuning and test tables");
  return report.slice(start, end);
}

Deno.test("convergence --quick --jobs 2: children give the in-process results", async () => {
  const alone = await quickReport(["--no-warmup"]);
  const parallel = await quickReport(["--no-warmup", "--jobs", "2"]);
  assert.match(alone, /Runs: one at a time/);
  assert.match(parallel, /Runs: 2 at once/);
  assert.doesNotMatch(parallel, /PARTIAL/);
  assert.equal(metricTables(parallel), metricTables(alone));
  // Every optimizer's tuning ran: sgd and adamw 2 lr points, fngd 2 + 1 damping.
  assert.match(metricTables(parallel), /lr=0\.1:damping=10: /);
  // The cost table splits fngd's epochs by phase against SGD's epoch.
  assert.match(parallel, /\| sgd \| train \| \d+ \| [\d.]+ \| 1\.000 \|/);
  assert.match(
    parallel,
    /\| fngd \| inversion \| \d+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \|/,
  );
  assert.match(
    parallel,
    /\| fngd \| inverse_free \| \d+ \| [\d.]+ \| [\d.]+ \| {2}\| [\d.]+ \|/,
  );
});

Deno.test("Limiter: a waiter of lower priority goes before earlier ones", async () => {
  const limiter = new Limiter(1);
  const order: string[] = [];
  const gate = Promise.withResolvers<void>();
  const first = limiter.run(() => gate.promise);
  const runs = [
    limiter.run(() => Promise.resolve(order.push("late 2")), 2),
    limiter.run(() => Promise.resolve(order.push("late 1a")), 1),
    limiter.run(() => Promise.resolve(order.push("late 1b")), 1),
    limiter.run(() => Promise.resolve(order.push("urgent")), 0),
  ];
  gate.resolve();
  await Promise.all([first, ...runs]);
  assert.deepEqual(order, ["urgent", "late 1a", "late 1b", "late 2"]);
});
