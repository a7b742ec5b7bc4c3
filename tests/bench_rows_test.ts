/** The benches' row bookkeeping: per-step times merge across rounds, and their medians. */
import assert from "node:assert/strict";
import { medianStepMs, type Row, RowSet } from "../bench/rows.ts";

function row(stepMs: Record<string, number[]>): Row {
  return { name: "fngd", epochs: [], testAccuracy: undefined, stepMs };
}

Deno.test("RowSet merges each round's step times by phase", () => {
  const set = new RowSet();
  set.record(row({ inversion: [5, 1], inverse_free: [2] }));
  set.record(row({ inverse_free: [4, 3] }));
  assert.deepEqual(set.byName("fngd")!.stepMs, {
    inversion: [5, 1],
    inverse_free: [2, 4, 3],
  });
});

Deno.test("medianStepMs: odd and even counts, one phase or all, NaN when none", () => {
  const r = row({ inversion: [9, 1, 5], inverse_free: [4, 2] });
  assert.equal(medianStepMs(r, "inversion"), 5);
  assert.equal(medianStepMs(r, "inverse_free"), 3);
  assert.equal(medianStepMs(r), 4);
  assert.ok(Number.isNaN(medianStepMs(r, "train")));
  assert.ok(Number.isNaN(medianStepMs(undefined)));
});
