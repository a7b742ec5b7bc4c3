/** Reads and writes around a job: listing, metrics, coefficients, checkpoints, datasets. */
import assert from "node:assert/strict";
import {
  checkReady,
  closeDb,
  createDataset,
  createDb,
  createJob,
  getCoefficientVector,
  getDataset,
  getJob,
  getLatestCheckpoint,
  getLatestEpochMetric,
  listDatasets,
  listEpochMetrics,
  listJobs,
  loadCoefficients,
  migrateDb,
  putCoefficients,
  recordEpochMetric,
  saveCheckpoint,
  summarizeCoefficients,
} from "../db/mod.ts";
import { PgCoefficientStore } from "../workers/coefficient_store.ts";
import { createClaimedJob, createTestDb } from "./_db.ts";

Deno.test({
  name:
    "migrateDb run by 4 connections at once applies everything once (real Postgres only)",
  // PGlite has a single session, so its advisory locks exclude nobody; there
  // only `deno task start` migrates, once, before anything else connects.
  ignore: !Deno.env.get("DATABASE_URL"),
}, async () => {
  const t = await createTestDb({ migrate: false });
  const others = Array.from({ length: 4 }, () => createDb(t.url, { max: 2 }));
  try {
    assert.equal(await checkReady(t.db), false, "not ready before migrating");
    await Promise.all(others.map((db) => migrateDb(db)));
    assert.equal(await checkReady(t.db), true);
    await migrateDb(t.db); // and again: nothing to do
    assert.equal(await checkReady(t.db), true);
  } finally {
    await Promise.all(others.map((db) => closeDb(db)));
    await t.close();
  }
});

Deno.test("listJobs pages newest first by cursor and never shows another tenant", async () => {
  const t = await createTestDb();
  try {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      ids.push((await createJob(t.db, { tenant: "a", spec: { i } })).job.id);
    }
    const foreign = (await createJob(t.db, { tenant: "b", spec: {} })).job.id;
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await listJobs(t.db, "a", { after, limit: 3 });
      seen.push(...page.data.map((j) => j.id));
      if (!page.has_more) break;
      after = page.data.at(-1)!.id;
    }
    assert.deepEqual(seen, ids.toReversed());
    assert.deepEqual(
      (await listJobs(t.db, "a", { status: "running", limit: 10 })).data,
      [],
    );
    assert.equal(
      (await listJobs(t.db, "a", { status: "queued", limit: 10 })).data.length,
      7,
    );
    assert.deepEqual(await listJobs(t.db, "a", { after: "junk", limit: 3 }), {
      data: [],
      has_more: false,
    });
    assert.equal(await getJob(t.db, "a", foreign), undefined);
    assert.equal((await getJob(t.db, "b", foreign))?.id, foreign);
    assert.equal(await getJob(t.db, "a", "not-a-uuid"), undefined);
  } finally {
    await t.close();
  }
});

Deno.test("epoch metrics are upserted per epoch and read in order", async () => {
  const t = await createTestDb();
  try {
    const { job, lease } = await createClaimedJob(t.db);
    const m = (epoch: number, trainLoss: number) => ({
      epoch,
      phase: epoch === 1 ? "inversion" : "inverse_free",
      trainLoss,
      valLoss: null,
      valAccuracy: 0.5,
      seconds: 1.5,
      steps: 10,
    });
    await recordEpochMetric(t.db, lease, m(1, 2));
    await recordEpochMetric(t.db, lease, m(2, 1));
    await recordEpochMetric(t.db, lease, m(2, 0.5));
    const rows = await listEpochMetrics(t.db, job.id);
    assert.deepEqual(rows.map((r) => [r.epoch, r.trainLoss]), [[1, 2], [
      2,
      0.5,
    ]]);
    assert.equal((await getLatestEpochMetric(t.db, job.id))?.epoch, 2);
  } finally {
    await t.close();
  }
});

Deno.test("coefficients round-trip as float32 and summarize per layer", async () => {
  const t = await createTestDb();
  try {
    const { job, lease } = await createClaimedJob(t.db);
    const rows = [];
    for (let b = 0; b < 600; b++) {
      for (let l = 0; l < 2; l++) {
        rows.push({
          batch: b,
          layer: l,
          coefficients: Float32Array.from([b, -l, 0.1 + b / 1000]),
          damping: l + 1,
        });
      }
    }
    assert.ok(await putCoefficients(t.db, lease, rows)); // 1200 rows: several chunks
    const map = await loadCoefficients(t.db, job.id);
    assert.equal(map.size, 1200);
    assert.deepEqual(
      map.get("599:1"),
      Float32Array.from([599, -1, 0.1 + 0.599]),
    );
    assert.deepEqual(
      await getCoefficientVector(t.db, job.id, 7, 0),
      Float32Array.from([7, -0, 0.1 + 0.007]),
    );
    assert.equal(await getCoefficientVector(t.db, job.id, 600, 0), undefined);
    const { layers } = await summarizeCoefficients(t.db, job.id);
    assert.equal(layers.length, 2);
    assert.equal(layers[1].batches, 600);
    assert.equal(layers[1].min, -1);
    assert.equal(layers[1].max, 599);
    assert.equal(
      layers[1].damping,
      2,
      "mean lambda when the spec has no damping",
    );
    // mean over [b, -1, 0.1 + b/1000] for b in 0..599
    const expected = (599 * 600 / 2 - 600 + 600 * 0.1 + 599 * 600 / 2 / 1000) /
      1800;
    assert.ok(Math.abs(layers[1].mean - expected) < 1e-4);

    const fngd = await createClaimedJob(t.db, {
      optimizer: { name: "fngd", damping: 0.5 },
    }, { workerId: "w2" });
    await putCoefficients(t.db, fngd.lease, rows.slice(0, 4));
    const summary = await summarizeCoefficients(t.db, fngd.job.id);
    assert.deepEqual(
      summary.layers.map((l) => l.damping),
      [0.5, 0.5],
      "the configured alpha, as the coefficients event reports it",
    );
  } finally {
    await t.close();
  }
});

Deno.test("PgCoefficientStore buffers puts, flushes in batches and serves gets from memory", async () => {
  const t = await createTestDb();
  try {
    const { job, lease } = await createClaimedJob(t.db);
    const store = new PgCoefficientStore(t.db, lease);
    const buf = new Float32Array(4);
    for (let b = 0; b < 50; b++) {
      buf.fill(b);
      await store.put(b, 0, buf, 0.25);
    }
    assert.equal(store.written, 0, "nothing written before flush");
    await store.flush();
    assert.equal(store.written, 50);
    assert.equal((await loadCoefficients(t.db, job.id)).size, 50);

    const fresh = new PgCoefficientStore(t.db, lease); // as after a restart
    assert.deepEqual(await fresh.get(3, 0), new Float32Array(4).fill(3));
    assert.deepEqual(await fresh.get(49, 0), new Float32Array(4).fill(49));
    assert.equal(await fresh.get(50, 0), undefined);
    assert.equal(fresh.loads, 1, "one query for all gets");
  } finally {
    await t.close();
  }
});

Deno.test("saveCheckpoint keeps only the newest checkpoint", async () => {
  const t = await createTestDb();
  try {
    const { job, lease } = await createClaimedJob(t.db);
    assert.equal(await getLatestCheckpoint(t.db, job.id), undefined);
    await saveCheckpoint(
      t.db,
      lease,
      1,
      Uint8Array.of(1, 2),
      Uint8Array.of(3),
    );
    await saveCheckpoint(
      t.db,
      lease,
      2,
      Uint8Array.of(4, 5, 6),
      Uint8Array.of(),
    );
    const latest = await getLatestCheckpoint(t.db, job.id);
    assert.equal(latest?.epoch, 2);
    assert.deepEqual(latest?.weights, Uint8Array.of(4, 5, 6));
    assert.deepEqual(latest?.optimizerState, Uint8Array.of());
  } finally {
    await t.close();
  }
});

Deno.test("datasets are per tenant and carry content only when asked", async () => {
  const t = await createTestDb();
  try {
    const content = Uint8Array.from({ length: 70_000 }, (_, i) => i % 251);
    const created = await createDataset(t.db, {
      tenant: "a",
      name: "tiny.csv",
      format: "csv",
      shape: [4],
      bytes: content.length,
      sha256: "ab".repeat(32),
      content,
    });
    assert.equal("content" in created, false);
    assert.equal((await listDatasets(t.db, "a")).length, 1);
    assert.equal((await listDatasets(t.db, "b")).length, 0);
    assert.equal(await getDataset(t.db, "b", created.id), undefined);
    const summary = await getDataset(t.db, "a", created.id);
    assert.equal(summary?.name, "tiny.csv");
    assert.equal(summary && "content" in summary, false);
    const full = await getDataset(t.db, "a", created.id, { withContent: true });
    assert.deepEqual(full?.content, content);
    assert.deepEqual(full?.shape, [4]);
  } finally {
    await t.close();
  }
});
