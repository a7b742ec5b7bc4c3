/**
 * Where an epoch's time goes: trains a few batches for 2 epochs under
 * `tf.profile` and sums kernel time by kernel name over the steps of epoch
 * 2 (the inverse-free epoch for fngd), per step. Comparing sgd with fngd
 * shows which kernels an inverse-free step adds and how much of a step is
 * kernel time at all: the rest (wall minus kernels) is the engine's
 * JavaScript (tape, tidy, optimizer bookkeeping, event-loop yields).
 *
 * The engine exposes no finer timing than `seconds_by_phase` (per epoch
 * phase), hence the profiler. Profiling adds a clock read per kernel, so
 * the walls here run a little above an unprofiled step's.
 */
import * as tf from "@tensorflow/tfjs";
import { type OptimizerName, train } from "../src/engine/mod.ts";
import { type BenchConfig, specFor } from "./config_bench.ts";

/** One optimizer's epoch-2 steps, per step. */
export interface StepProfile {
  name: OptimizerName;
  phase: string;
  /** Steps measured: epoch 2's steps after its first. */
  steps: number;
  wallMs: number;
  kernelMs: number;
  kernels: number;
  /** Kernel milliseconds and launches per step by kernel name. */
  byKernel: Map<string, { ms: number; count: number }>;
}

interface Mark {
  kernels: number;
  t: number;
}

/** Profiles epoch 2 of `name` on the first `batches` batches of the config's data. */
export async function profileSteps(
  cfg: BenchConfig,
  name: OptimizerName,
  batches: number,
): Promise<StepProfile> {
  const spec = specFor(cfg, name);
  const trainShare = 1 - spec.validation_split;
  const n = Math.min(
    cfg.data.y.length,
    Math.ceil((batches * spec.batch_size) / trainShare),
  );
  const width = cfg.data.sampleShape.reduce((a, b) => a * b, 1);
  const data = {
    ...cfg.data,
    x: cfg.data.x.subarray(0, n * width),
    y: cfg.data.y.subarray(0, n),
    test: undefined,
  };
  Object.assign(spec, { epochs: 2, schedule: { name: "constant" } });
  const state = tf.engine().state;
  const marks: Mark[] = [];
  let phase = "";
  let stepsPerEpoch = 0;
  const info = await tf.profile(async () => {
    await train(spec, data, {
      stepEventIntervalMs: 0,
      onEvent: (e) => {
        if (e.type !== "step" || e.data.epoch !== 2) return;
        phase = e.data.phase;
        stepsPerEpoch = e.data.steps;
        // Step events come after each step, before the epoch's evaluation.
        if (e.data.step === 1 || e.data.step === e.data.steps) {
          marks.push({
            kernels: state.activeProfile.kernels.length,
            t: performance.now(),
          });
        }
      },
    });
    return [];
  });
  // Steps 2..N of epoch 2: between the marks after step 1 and after step N.
  const count = marks.length === 2 ? stepsPerEpoch - 1 : 0;
  // Named scopes (e.g. a custom gradient's `forward`) are recorded as well
  // as the kernels inside them: count registered kernels only.
  const backend = tf.getBackend();
  const slice = count
    ? info.kernels.slice(marks[0].kernels, marks[1].kernels)
      .filter((k) => tf.getKernel(k.name, backend) !== undefined)
    : [];
  const byKernel = new Map<string, { ms: number; count: number }>();
  let kernelMs = 0;
  for (const k of slice) {
    const ms = k.kernelTimeMs as number;
    kernelMs += ms;
    const sum = byKernel.get(k.name) ?? { ms: 0, count: 0 };
    byKernel.set(k.name, { ms: sum.ms + ms, count: sum.count + 1 });
  }
  const per = (x: number) => (count ? x / count : NaN);
  for (const [k, v] of byKernel) {
    byKernel.set(k, { ms: per(v.ms), count: per(v.count) });
  }
  return {
    name,
    phase,
    steps: count,
    wallMs: count ? per(marks[1].t - marks[0].t) : NaN,
    kernelMs: per(kernelMs),
    kernels: per(slice.length),
    byKernel,
  };
}

/**
 * Markdown lines comparing `base` (sgd) with `other` (fngd inverse-free):
 * totals per step, then the kernels whose time differs most.
 */
export function profileLines(
  base: StepProfile,
  other: StepProfile,
  top = 12,
): string[] {
  const ms = (x: number) => Number.isFinite(x) ? x.toFixed(3) : "n/a";
  const n = (x: number) => Number.isFinite(x) ? x.toFixed(1) : "n/a";
  const row = (label: string, a: number, b: number, f = ms) =>
    `| ${label} | ${f(a)} | ${f(b)} | ${f(b - a)} |`;
  const none = { ms: 0, count: 0 };
  const lines = [
    `Step profile (ms per step, ${base.steps} steps of epoch 2 on the first batches of the data, under tf.profile; kernel time is spent inside backend kernels, the rest is the engine's JavaScript; profiling slows both a little):`,
    "",
    `| per step | ${base.name} (${base.phase}) | ${other.name} (${other.phase}) | difference |`,
    "|---|---|---|---|",
    row("wall", base.wallMs, other.wallMs),
    row("inside kernels", base.kernelMs, other.kernelMs),
    row(
      "outside kernels",
      base.wallMs - base.kernelMs,
      other.wallMs - other.kernelMs,
    ),
    row("kernels launched", base.kernels, other.kernels, n),
  ];
  const names = [
    ...new Set([...base.byKernel.keys(), ...other.byKernel.keys()]),
  ];
  const get = (p: StepProfile, k: string) => p.byKernel.get(k) ?? none;
  const diff = (k: string) => get(other, k).ms - get(base, k).ms;
  names.sort((a, b) => Math.abs(diff(b)) - Math.abs(diff(a)));
  for (const k of names.slice(0, top)) {
    const a = get(base, k);
    const b = get(other, k);
    lines.push(
      `| ${k} (launches ${n(a.count)} / ${n(b.count)}) | ${ms(a.ms)} | ${
        ms(b.ms)
      } | ${ms(b.ms - a.ms)} |`,
    );
  }
  return lines;
}
