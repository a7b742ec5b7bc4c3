/**
 * Staleness of fngd's reused coefficients: the drift statistics against
 * explicit float64 arithmetic, the Gram-diagonal proxy against the Gram
 * matrix, the probes' `staleness` events, and `refresh: "auto"` at its two
 * limits (a threshold near 0 re-solves every pair at every step, so it
 * follows ngd; the threshold 1 never fires, so it follows plain fngd), its
 * history in the store and its exact resume.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  type Checkpoint,
  decodeCheckpoint,
  encodeCheckpoint,
  type EngineEvent,
  initBackend,
  MemoryCoefficientStore,
  type StalenessEventData,
} from "../src/engine/mod.ts";
import {
  directionCosine,
  driftSignal,
  isProbeBatch,
  relativeChange,
} from "../src/engine/optim/staleness.ts";
import { LINEAR_SITE_MATH } from "../src/engine/layers/linear_site.ts";
import { inferModelShapes } from "../src/engine/shapes.ts";
import { Rng } from "../src/engine/rng.ts";
import { specFor, trainRecording } from "./_engine.ts";

const BATCHES = Math.ceil(72 / 16); // 96 samples, 25% held out, batch 16

function stalenessEvents(events: EngineEvent[]): StalenessEventData[] {
  return events.flatMap((e) => e.type === "staleness" ? [e.data] : []);
}

Deno.test("drift signal, relative change and probe batches against explicit arithmetic", () => {
  // Scale-free: a uniformly larger diagonal has not drifted.
  assert.equal(driftSignal([1, 2, 3], [2, 4, 6]), 0);
  // Weight moved from sample 0 to sample 1: TV distance of (1/2,1/2) and (1,0).
  assert.equal(driftSignal([1, 1], [1, 0]), 0.5);
  assert.equal(driftSignal([], []), 0);
  assert.equal(driftSignal([0, 0], [1, 1]), 0);
  assert.equal(relativeChange([3, 4], [0, 0]), null);
  assert.ok(
    Math.abs(relativeChange([1, 2], [1, 1])! - Math.sqrt(1 / 2)) < 1e-15,
  );
  for (const [batches, samples] of [[9, 2], [4, 2], [3, 5], [100, 3]]) {
    const probes = Array.from({ length: batches }, (_, b) => b).filter((b) =>
      isProbeBatch(b, batches, samples)
    );
    assert.equal(
      probes.length,
      Math.min(batches, samples),
      `${batches}/${samples}`,
    );
  }
  assert.equal(isProbeBatch(0, 10, 0), false);
});

Deno.test("directionCosine equals the cosine of U a and U b built explicitly", () => {
  const rng = new Rng(4);
  const m = 5;
  const n = 7;
  // U: n x m per-sample gradients as columns; K = U^T U.
  const u = Array.from({ length: n * m }, () => rng.normal());
  const k = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      for (let r = 0; r < n; r++) k[i * m + j] += u[r * m + i] * u[r * m + j];
    }
  }
  const a = Array.from({ length: m }, () => rng.normal());
  const b = Array.from({ length: m }, () => rng.normal());
  const ua = Array.from(
    { length: n },
    (_, r) => a.reduce((s, ai, i) => s + u[r * m + i] * ai, 0),
  );
  const ub = Array.from(
    { length: n },
    (_, r) => b.reduce((s, bi, i) => s + u[r * m + i] * bi, 0),
  );
  const dot = (x: number[], y: number[]) =>
    x.reduce((s, xi, i) => s + xi * y[i], 0);
  const want = dot(ua, ub) / Math.sqrt(dot(ua, ua) * dot(ub, ub));
  assert.ok(Math.abs(directionCosine(k, m, a, b) - want) < 1e-12);
  assert.ok(Math.abs(directionCosine(k, m, a, a) - 1) < 1e-12);
});

Deno.test("the Gram-diagonal proxy is K's diagonal / M^2 for one position, and the t = s terms for several", async () => {
  await initBackend("cpu");
  const rng = new Rng(9);
  const normals = (n: number) =>
    Float32Array.from({ length: n }, () => rng.normal());
  for (const t of [1, 3]) {
    const m = 4;
    const k = 5;
    const units = 3;
    const aValues = normals(m * t * k);
    const eValues = normals(m * t * units);
    const got = tf.tidy(() => {
      const cap = { inputs: tf.tensor2d(aValues, [m * t, k]), positions: t };
      const e = tf.tensor2d(eValues, [m * t, units]);
      const diag = LINEAR_SITE_MATH.gramDiagonal(cap, e, m).arraySync();
      const gram = LINEAR_SITE_MATH.gram(cap, e, m).arraySync();
      return { diag, gram };
    });
    for (let i = 0; i < m; i++) {
      let want = 0;
      for (let p = 0; p < t; p++) {
        const row = i * t + p;
        let a2 = 1;
        let e2 = 0;
        for (let j = 0; j < k; j++) a2 += aValues[row * k + j] ** 2;
        for (let j = 0; j < units; j++) e2 += eValues[row * units + j] ** 2;
        want += a2 * e2;
      }
      assert.ok(
        Math.abs(got.diag[i] - want) < 1e-4 * want,
        `t ${t} sample ${i}`,
      );
      if (t === 1) {
        const kii = got.gram[i][i] / (m * m);
        assert.ok(Math.abs(kii - want) < 1e-4 * want, `K_ii, sample ${i}`);
      }
    }
  }
});

Deno.test("probes measure every layer on staleness_samples batches per inverse-free epoch, outside solves", async () => {
  await initBackend("wasm");
  const spec = specFor("dense", {
    name: "fngd",
    lr: 0.05,
    staleness_samples: 2,
  }, { epochs: 3 });
  const layers = inferModelShapes(spec.model).trainable.length;
  const { result, events } = await trainRecording(spec);
  assert.equal(result.counters.solves, BATCHES * layers);
  assert.equal(result.counters.refreshes, 0);
  assert.equal(result.counters.staleness_probes, 2 * 2 * layers);
  const stale = stalenessEvents(events);
  assert.deepEqual(stale.map((s) => s.epoch), [2, 3]);
  for (const s of stale) {
    assert.equal(s.layers.length, layers);
    for (const l of s.layers) {
      assert.equal(l.probes, 2);
      assert.equal(l.checked, 2);
      assert.equal(l.refreshes, 0);
      assert.ok(l.cosine_mean! <= 1 + 1e-9 && l.cosine_mean! > -1);
      assert.ok(l.cosine_min! <= l.cosine_mean! + 1e-12);
      assert.ok(l.diagonal_change_mean! > 0);
      assert.ok(l.signal_mean! >= 0 && l.signal_max! <= 1);
    }
  }
  // Off: no probes, no event.
  const off = await trainRecording(
    specFor("dense", { name: "fngd", lr: 0.05, staleness_samples: 0 }, {
      epochs: 3,
    }),
  );
  assert.equal(off.result.counters.staleness_probes, 0);
  assert.equal(stalenessEvents(off.events).length, 0);
  // Probes are measurement only: the trajectory is plain fngd's.
  assert.deepEqual(
    off.steps.map((s) => s.loss),
    (await trainRecording(spec)).steps.map((s) => s.loss),
  );
});

Deno.test("refresh auto: threshold near 0 follows ngd exactly, threshold 1 follows plain fngd", async () => {
  await initBackend("wasm");
  const base = { lr: 0.05, momentum: 0.9 };
  const ngd = await trainRecording(specFor("dense", { name: "ngd", ...base }));
  const eager = await trainRecording(
    specFor("dense", {
      name: "fngd",
      ...base,
      staleness_samples: 0,
      refresh: "auto",
      refresh_threshold: 1e-12,
    }),
  );
  assert.deepEqual(
    eager.steps.map((s) => s.loss),
    ngd.steps.map((s) => s.loss),
  );
  const layers = eager.result.counters.solves / (3 * BATCHES);
  assert.equal(eager.result.counters.refreshes, 2 * BATCHES * layers);
  const never = await trainRecording(
    specFor("dense", { name: "fngd", ...base }),
  );
  const lazy = await trainRecording(
    specFor("dense", {
      name: "fngd",
      ...base,
      refresh: "auto",
      refresh_threshold: 1,
    }),
  );
  assert.deepEqual(
    lazy.steps.map((s) => s.loss),
    never.steps.map((s) => s.loss),
  );
  assert.equal(lazy.result.counters.refreshes, 0);
});

Deno.test("refresh auto keeps a history per epoch in the store, and resumes exactly", async () => {
  await initBackend("wasm");
  const spec = specFor("dense", {
    name: "fngd",
    lr: 0.05,
    momentum: 0.9,
    refresh: "auto",
    refresh_threshold: 0.02,
  }, { epochs: 3 });
  const store = new MemoryCoefficientStore();
  const checkpoints: Checkpoint[] = [];
  const full = await trainRecording(spec, {
    store,
    onCheckpoint: (cp) => Promise.resolve(void checkpoints.push(cp)),
  });
  const refreshes = full.result.counters.refreshes;
  assert.ok(refreshes > 0, "the threshold should fire on this task");
  const history = [...store.entries.values()];
  const later = history.flat().filter((e) => e.epoch > 1);
  assert.equal(later.length, refreshes);
  for (const h of history) {
    assert.equal(h[0].epoch, 1, "epoch one's entry is kept beside refreshes");
    assert.equal(h[0].diagonal.length, h[0].coefficients.length);
  }
  const stale = stalenessEvents(full.events);
  assert.equal(
    stale.flatMap((s) => s.layers).reduce((n, l) => n + l.refreshes, 0),
    refreshes,
  );
  const blobs = encodeCheckpoint(checkpoints[0]);
  const restored = decodeCheckpoint(blobs.weights, blobs.optimizer_state);
  const resumed = await trainRecording(spec, { store, resumeFrom: restored });
  assert.deepEqual(
    resumed.steps.map((s) => s.loss),
    full.steps.filter((s) => s.epoch >= 2).map((s) => s.loss),
  );
  assert.equal(resumed.result.counters.refreshes, refreshes);
});
