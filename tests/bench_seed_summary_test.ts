/** bench/seed_summary.ts: per-seed config-bench reports summarised across seeds. */
import assert from "node:assert/strict";
import { parseReport, summarize } from "../bench/seed_summary.ts";

/** The tables config_report.ts writes, with one seed's figures. */
function report(ngd: number[], fngd: number[], fngdRatio: number): string {
  return [
    "# mlp",
    "",
    "| optimizer | phase | epochs timed | s/epoch (mean) | min | max | x sgd epoch (means) | test accuracy after last epoch |",
    "|---|---|---|---|---|---|---|---|",
    "| sgd | train | 2 | 2.00 | 2.00 | 2.00 | 1.000 | 0.8 |",
    `| fngd:refresh=auto | inverse_free | 1 | 2.20 | 2.20 | 2.20 | ${fngdRatio} | 0.8 |`,
    "",
    "Validation metric (val_accuracy) after each epoch, last round:",
    "",
    "| optimizer | epoch 1 | epoch 2 |",
    "|---|---|---|",
    `| ngd | ${ngd.join(" | ")} |`,
    `| fngd:refresh=auto | ${fngd.join(" | ")} |`,
    "",
    "Staleness of the reused coefficients:",
    "",
    "| optimizer | epoch | cosine | worst | diag | drift | refreshes / checked |",
    "|---|---|---|---|---|---|---|",
    "| fngd:refresh=auto | 2 | 0.97 | 0.96 | 0.6 | 0.4 | 7 / 30 |",
  ].join("\n");
}

Deno.test("seed summary: means, gaps in points to the reference, ratios, re-solves", () => {
  const reports = [
    report([0.80, 0.84], [0.80, 0.83], 1.1),
    report([0.82, 0.86], [0.82, 0.87], 1.2),
  ].map(parseReport);
  assert.deepEqual(reports[0].val.get("ngd"), [0.80, 0.84]);
  assert.equal(reports[1].ratio.get("fngd:refresh=auto inverse_free"), 1.2);
  const text = summarize(reports, "ngd");
  // epoch 2: gaps -1 and +1 points, mean 0; means 0.85 for both.
  assert.match(
    text,
    /\| fngd:refresh=auto \| 0\.8100 \| 0\.8500 \| \+0\.00 \(\+0\.00 to \+0\.00\) \| \+0\.00 \(-1\.00 to \+1\.00\) \|/,
  );
  assert.match(
    text,
    /\| fngd:refresh=auto inverse_free \| 1\.150 \(1\.100-1\.200\) \|/,
  );
  assert.match(text, /\| fngd:refresh=auto \| 7 \/ 30; 7 \/ 30 \|/);
});
