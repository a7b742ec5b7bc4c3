/**
 * `deno run --allow-read bench/seed_summary.ts --reference NAME REPORT...`:
 * one config-bench report per seed (`deno task bench --config ... --seed S
 * --out REPORT`) summarised across seeds: each optimizer's mean validation
 * metric per epoch and its gap to a reference optimizer in points (mean,
 * min, max over seeds), its epoch seconds as a ratio to sgd's, and fngd's
 * re-solves per epoch. Reads the tables the bench wrote (config_report.ts),
 * so the summary holds only measured figures.
 */
import { parseArgs } from "node:util";

/** The rows of the first markdown table after `heading`, as cells. */
export function tableAfter(report: string, heading: string): string[][] {
  const at = report.indexOf(heading);
  if (at < 0) return [];
  const lines = report.slice(at).split("\n");
  const start = lines.findIndex((l) => l.startsWith("|"));
  if (start < 0) return [];
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith("|")) break;
    rows.push(line.slice(1, -1).split("|").map((c) => c.trim()));
  }
  return rows;
}

export interface SeedReport {
  /** Validation metric per epoch, by optimizer. */
  val: Map<string, number[]>;
  /** Mean s/epoch over sgd's, by optimizer and phase (`fngd inverse_free`). */
  ratio: Map<string, number>;
  /** `refreshes / checked` per epoch, by optimizer. */
  refreshes: Map<string, string[]>;
}

export function parseReport(report: string): SeedReport {
  const val = new Map<string, number[]>();
  for (const [name, ...epochs] of tableAfter(report, "after each epoch")) {
    val.set(name, epochs.map(Number));
  }
  const ratio = new Map<string, number>();
  for (const cells of tableAfter(report, "| optimizer | phase |")) {
    ratio.set(`${cells[0]} ${cells[1]}`, Number(cells[6]));
  }
  const refreshes = new Map<string, string[]>();
  for (const cells of tableAfter(report, "Staleness of")) {
    refreshes.set(cells[0], [...(refreshes.get(cells[0]) ?? []), cells[6]]);
  }
  return { val, ratio, refreshes };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const signed = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(2)}`;

/** The summary as markdown; `reference` names the optimizer gaps are measured to. */
export function summarize(reports: SeedReport[], reference: string): string {
  const names = [...reports[0].val.keys()];
  const epochs = reports[0].val.get(names[0])!.length;
  const head = Array.from({ length: epochs }, (_, e) => `epoch ${e + 1}`);
  const out = [
    `| optimizer | ${head.join(" | ")} | ${
      head.map((h) => `${h} gap to ${reference} (pts)`).join(" | ")
    } |`,
    `|---|${"---|".repeat(2 * epochs)}`,
  ];
  for (const name of names) {
    const runs = reports.map((r) => r.val.get(name)!);
    const means = head.map((_, e) => mean(runs.map((v) => v[e])).toFixed(4));
    const gaps = head.map((_, e) => {
      const g = reports.map((r) =>
        100 * (r.val.get(name)![e] - r.val.get(reference)![e])
      );
      return `${signed(mean(g))} (${signed(Math.min(...g))} to ${
        signed(Math.max(...g))
      })`;
    });
    out.push(`| ${name} | ${means.join(" | ")} | ${gaps.join(" | ")} |`);
  }
  out.push(
    "",
    "| optimizer and phase | x sgd epoch, mean (min-max) over seeds |",
  );
  out.push("|---|---|");
  for (const key of reports[0].ratio.keys()) {
    const xs = reports.map((r) => r.ratio.get(key)!);
    out.push(
      `| ${key} | ${mean(xs).toFixed(3)} (${Math.min(...xs).toFixed(3)}-${
        Math.max(...xs).toFixed(3)
      }) |`,
    );
  }
  const refreshed = [...reports[0].refreshes.keys()].filter((n) =>
    n.includes("refresh=auto")
  );
  if (refreshed.length) {
    out.push(
      "",
      "| optimizer | re-solves / checked, per epoch from 2, per seed |",
    );
    out.push("|---|---|");
    for (const n of refreshed) {
      out.push(
        `| ${n} | ${
          reports.map((r) => r.refreshes.get(n)!.join(", ")).join("; ")
        } |`,
      );
    }
  }
  return out.join("\n");
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: { reference: { type: "string" } },
    allowPositionals: true,
  });
  if (!values.reference || positionals.length === 0) {
    console.error("usage: seed_summary.ts --reference NAME REPORT...");
    Deno.exit(2);
  }
  const reports = await Promise.all(
    positionals.map(async (p) => parseReport(await Deno.readTextFile(p))),
  );
  console.log(summarize(reports, values.reference));
}
