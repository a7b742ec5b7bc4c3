/**
 * `deno task bench --gram-memory [--batch 64] [--positions 64]`: the backend
 * memory of one Gram matrix per sequence site of the translation example
 * (attention projections, the position-wise MLP, the token embedding), in
 * each of the two forms, measured with `tf.profile` (peak bytes over the
 * computation, inputs excluded) beside the admission estimate (gramFloats).
 * The pairwise form materialises `(M T)^2` values per product; the
 * per-sample form `M` gradients of `fan_in x units` each.
 */
import * as tf from "@tensorflow/tfjs";
import { dirname } from "node:path";
import type { SiteCapture } from "../src/engine/layers/mod.ts";
import type { SiteShape } from "../src/engine/layers/kind.ts";
import { gramMatrix } from "../src/engine/layers/linear_site.ts";
import { embeddingGram } from "../src/engine/layers/embedding_site.ts";
import {
  chooseGramMethod,
  gramFloats,
} from "../src/engine/layers/linear_cost.ts";
import { chooseEmbeddingGram } from "../src/engine/layers/embedding_plan.ts";

/** One site of the example: name, fan-in (vocab for the embedding), units. */
interface GramSite {
  name: string;
  fanIn: number;
  units: number;
  tokens?: boolean;
}

const SITES: GramSite[] = [
  {
    name: "token embedding (vocab 49 -> 128)",
    fanIn: 49,
    units: 128,
    tokens: true,
  },
  { name: "attention q/k/v/o (128 -> 128)", fanIn: 128, units: 128 },
  { name: "MLP up (128 -> 512)", fanIn: 128, units: 512 },
  { name: "MLP down (512 -> 128)", fanIn: 512, units: 128 },
];

const MIB = 1024 ** 2;

/** Peak backend bytes of one Gram computation, inputs already allocated. */
async function peakBytes(
  site: GramSite,
  m: number,
  t: number,
  method: "pairwise" | "per_sample",
): Promise<number> {
  const rows = m * t;
  const start = tf.memory().numBytes;
  const inputs = site.tokens
    ? tf.randomUniform([rows, 1], 0, site.fanIn, "int32") as tf.Tensor2D
    : tf.randomNormal([rows, site.fanIn]) as tf.Tensor2D;
  const e = tf.randomNormal([rows, site.units]) as tf.Tensor2D;
  const cap: SiteCapture = { inputs, positions: t };
  const before = tf.memory().numBytes;
  // Inside tidy, as in a training step, so intermediates are freed.
  const info = await tf.profile(() =>
    tf.tidy(() => {
      const k = site.tokens
        ? embeddingGram(cap, e, m, site.fanIn, method)
        : gramMatrix(cap, e, m, method);
      k.dataSync();
    })
  );
  inputs.dispose();
  e.dispose();
  if (tf.memory().numBytes !== start) throw new Error("Gram bench leaked");
  return info.peakBytes - before;
}

function shapeOf(site: GramSite, t: number): SiteShape {
  return {
    fanIn: site.fanIn,
    units: site.units,
    positions: t,
    output: [t, site.units],
    ...(site.tokens ? { oneHot: "tokens", withoutBias: true } : {}),
  };
}

/** Measures every site in both forms; prints and writes the report. */
export async function benchGramMemory(opts: {
  batch: number;
  positions: number;
  backend: string;
  command: string;
  resultsDir: string;
}): Promise<string> {
  const { batch: m, positions: t } = opts;
  const lines = [
    `# Gram matrix memory at batch ${m}, T = ${t} (backend ${opts.backend})`,
    "",
    `Command: \`${opts.command}\``,
    `Date: ${new Date().toISOString()}; Deno ${Deno.version.deno}.`,
    "Peak: `tf.profile` peak bytes during one Gram computation (its inputs excluded). Estimate: the admission cost model (gramFloats) for the form the engine picks, x 4 bytes.",
    "",
    "| site | pairwise peak MiB | per-sample peak MiB | engine picks | estimate MiB (picked form) |",
    "|---|---|---|---|---|",
  ];
  for (const site of SITES) {
    const pairwise = await peakBytes(site, m, t, "pairwise");
    const perSample = await peakBytes(site, m, t, "per_sample");
    const picked = site.tokens
      ? chooseEmbeddingGram(m, t, site.fanIn, site.units)
      : chooseGramMethod(m, t, site.fanIn, site.units);
    const estimate = gramFloats(shapeOf(site, t), m) * 4;
    lines.push(
      `| ${site.name} | ${(pairwise / MIB).toFixed(1)} | ${
        (perSample / MIB).toFixed(1)
      } | ${picked} | ${(estimate / MIB).toFixed(1)} |`,
    );
    console.error(`${site.name}: measured`);
  }
  const report = lines.join("\n") + "\n";
  console.log(report);
  const out = `${opts.resultsDir}/gram_memory_${opts.backend}.md`;
  await Deno.mkdir(dirname(out), { recursive: true });
  await Deno.writeTextFile(out, report);
  console.error(`wrote ${out}`);
  return out;
}
