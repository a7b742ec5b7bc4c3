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
  loadLatestCheckpoint,
  migrateDb,
  putCoefficients,
  readDatasetContent,
  recordEpochMetric,
  saveCheckpoint,
} from "../db/mod.ts";
import { bytesStream } from "../db/mod.ts";
import { summarizeJobCoefficients } from "../routes/_coefficient_summary.ts";
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
          epoch: 1,
          coefficients: Float32Array.from([b, -l, 0.1 + b / 1000]),
          diagonal: Float32Array.from([b / 2, l]),
          lambda: l + 1,
        });
      }
    }
    assert.ok(await putCoefficients(t.db, lease, rows)); // 1200 rows: several chunks
    const map = await loadCoefficients(t.db, job.id);
    assert.equal(map.size, 1200);
    assert.deepEqual(map.get("599:1"), [{
      coefficients: Float32Array.from([599, -1, 0.1 + 0.599]),
      epoch: 1,
      diagonal: Float32Array.from([599 / 2, 1]),
    }]);
    assert.deepEqual(
      (await getCoefficientVector(t.db, job.id, 7, 0))?.coefficients,
      Float32Array.from([7, -0, 0.1 + 0.007]),
    );
    assert.equal(await getCoefficientVector(t.db, job.id, 600, 0), undefined);
    const { layers, history } = await summarizeJobCoefficients(t.db, job);
    assert.deepEqual(history, [{
      epoch: 1,
      solved: 1200,
      layers: [{ layer: 0, solved: 600 }, { layer: 1, solved: 600 }],
    }]);
    assert.equal(layers.length, 2);
    assert.equal(layers[1].batches, 600);
    assert.equal(layers[1].min, -1);
    assert.equal(layers[1].max, 599);
    assert.equal(
      layers[1].damping,
      1,
      "the engine's default alpha when the spec has none, never lambda",
    );
    // mean over [b, -1, 0.1 + b/1000] for b in 0..599
    const expected = (599 * 600 / 2 - 600 + 600 * 0.1 + 599 * 600 / 2 / 1000) /
      1800;
    assert.ok(Math.abs(layers[1].mean - expected) < 1e-4);

    const fngd = await createClaimedJob(t.db, {
      optimizer: { name: "fngd", damping: 0.5 },
    }, { workerId: "w2" });
    await putCoefficients(t.db, fngd.lease, rows.slice(0, 4));
    const summary = await summarizeJobCoefficients(t.db, fngd.job);
    assert.deepEqual(
      summary.layers.map((l) => l.damping),
      [0.5, 0.5],
      "the configured alpha, as the coefficients event reports it",
    );
  } finally {
    await t.close();
  }
});

Deno.test("coefficient history keeps each epoch's entry; a re-put of one epoch replaces it", async () => {
  const t = await createTestDb();
  try {
    const { job, lease } = await createClaimedJob(t.db);
    const entry = (batch: number, layer: number, epoch: number, v: number) => ({
      batch,
      layer,
      epoch,
      coefficients: Float32Array.from([v, v + 1]),
      diagonal: Float32Array.from([v * 10]),
      lambda: 0.5,
    });
    // Epoch one solves 3 batches x 2 layers; epoch 3 refreshes two of them.
    const epochOne = [0, 1, 2].flatMap((b) =>
      [0, 1].map((l) => entry(b, l, 1, b))
    );
    assert.ok(await putCoefficients(t.db, lease, epochOne));
    assert.ok(
      await putCoefficients(t.db, lease, [
        entry(1, 0, 3, 7),
        entry(2, 1, 3, 8),
      ]),
    );
    // The retry of epoch 3's write for (1, 0), with what the retry solved.
    assert.ok(await putCoefficients(t.db, lease, [entry(1, 0, 3, 9)]));
    const stale = { ...lease, attempt: lease.attempt + 1 };
    assert.equal(
      await putCoefficients(t.db, stale, [entry(0, 0, 4, 5)]),
      false,
      "fenced by the lease",
    );

    const [{ n }] = await t.db.sql`
      select count(*)::int as n from fngd_coefficients
      where job_id = ${job.id} and batch_index = 1 and layer_index = 0`;
    assert.equal(n, 2, "one row per epoch: the re-put replaced, not added");

    const map = await loadCoefficients(t.db, job.id);
    assert.equal(map.size, 6);
    assert.deepEqual(map.get("1:0"), [
      {
        coefficients: Float32Array.from([1, 2]),
        epoch: 1,
        diagonal: Float32Array.from([10]),
      },
      {
        coefficients: Float32Array.from([9, 10]),
        epoch: 3,
        diagonal: Float32Array.from([90]),
      },
    ]);
    assert.deepEqual(map.get("0:1")?.map((e) => e.epoch), [1]);

    const latest = await getCoefficientVector(t.db, job.id, 1, 0);
    assert.equal(latest?.epoch, 3);
    assert.deepEqual(latest?.coefficients, Float32Array.from([9, 10]));
    const first = await getCoefficientVector(t.db, job.id, 1, 0, 1);
    assert.deepEqual(first?.coefficients, Float32Array.from([1, 2]));
    assert.equal(await getCoefficientVector(t.db, job.id, 1, 0, 2), undefined);

    const summary = await summarizeJobCoefficients(t.db, job);
    assert.deepEqual(summary.history, [
      {
        epoch: 1,
        solved: 6,
        layers: [{ layer: 0, solved: 3 }, { layer: 1, solved: 3 }],
      },
      {
        epoch: 3,
        solved: 2,
        layers: [{ layer: 0, solved: 1 }, { layer: 1, solved: 1 }],
      },
    ]);
    // Layer 0 over its latest entries: [0, 1], [9, 10] (epoch 3), [2, 3].
    const layer0 = summary.layers[0];
    assert.equal(layer0.batches, 3, "one per batch, not per entry");
    assert.equal(layer0.max, 10);
    assert.ok(Math.abs(layer0.mean - (0 + 1 + 9 + 10 + 2 + 3) / 6) < 1e-6);
  } finally {
    await t.close();
  }
});

Deno.test("a row from before the history has epoch 1 and an empty diagonal", async () => {
  const t = await createTestDb();
  try {
    const { job } = await createClaimedJob(t.db);
    // As the migration leaves an older row: no epoch given, no diagonal.
    await t.db.sql`
      insert into fngd_coefficients
        (job_id, batch_index, layer_index, coefficients, lambda)
      values (${job.id}, 0, 0, ${new Uint8Array(
      new Float32Array([1.5]).buffer,
    )}, 1)`;
    const [entry] = (await loadCoefficients(t.db, job.id)).get("0:0")!;
    assert.equal(entry.epoch, 1);
    assert.deepEqual(entry.diagonal, new Float32Array(0));
    assert.deepEqual(entry.coefficients, Float32Array.from([1.5]));
  } finally {
    await t.close();
  }
});

Deno.test("PgCoefficientStore buffers puts, flushes in batches and serves gets from memory", async () => {
  const t = await createTestDb();
  try {
    const { job, lease } = await createClaimedJob(t.db);
    const store = new PgCoefficientStore(t.db, lease);
    const coefficients = new Float32Array(4);
    const diagonal = new Float32Array(2);
    for (let b = 0; b < 50; b++) {
      coefficients.fill(b);
      diagonal.fill(-b);
      await store.put(b, 0, { coefficients, epoch: 1, diagonal }, 0.25);
    }
    assert.equal(store.written, 0, "nothing written before flush");
    await store.flush();
    assert.equal(store.written, 50);
    assert.equal((await loadCoefficients(t.db, job.id)).size, 50);

    const fresh = new PgCoefficientStore(t.db, lease); // as after a restart
    assert.deepEqual(await fresh.get(3, 0, 2), {
      coefficients: new Float32Array(4).fill(3),
      epoch: 1,
      diagonal: new Float32Array(2).fill(-3),
    });
    assert.deepEqual(
      (await fresh.get(49, 0, 2))?.coefficients,
      new Float32Array(4).fill(49),
    );
    assert.equal(await fresh.get(50, 0, 2), undefined);
    assert.equal(await fresh.get(3, 0, 1), undefined, "nothing before epoch 1");
    assert.equal(fresh.loads, 1, "one query for all gets");
  } finally {
    await t.close();
  }
});

Deno.test("PgCoefficientStore keeps the history: get returns the latest entry before the epoch", async () => {
  const t = await createTestDb();
  try {
    const { job, lease } = await createClaimedJob(t.db);
    const entry = (epoch: number, v: number) => ({
      coefficients: Float32Array.from([v]),
      epoch,
      diagonal: Float32Array.from([v * 2]),
    });
    const store = new PgCoefficientStore(t.db, lease);
    await store.put(0, 0, entry(1, 1), 1);
    // Buffered puts made before the first get are visible to it.
    assert.deepEqual(await store.get(0, 0, 2), entry(1, 1));
    await store.flush();
    // A refresh in epoch 3, then its retry with other values: one entry.
    await store.put(0, 0, entry(3, 30), 1);
    await store.put(0, 0, entry(3, 31), 1);
    assert.equal(await store.get(0, 0, 1), undefined);
    assert.equal((await store.get(0, 0, 3))?.epoch, 1, "epoch 3 sees epoch 1");
    assert.deepEqual(await store.get(0, 0, 4), entry(3, 31));
    await store.flush();
    await store.put(0, 0, entry(3, 32), 1); // a retry after the write
    await store.flush();
    assert.equal(store.loads, 1);

    const [{ n }] = await t.db.sql`
      select count(*)::int as n from fngd_coefficients where job_id = ${job.id}`;
    assert.equal(n, 2, "epochs 1 and 3, each once");
    const fresh = new PgCoefficientStore(t.db, lease); // as after a restart
    assert.deepEqual(await fresh.get(0, 0, 3), entry(1, 1));
    assert.deepEqual(await fresh.get(0, 0, 4), entry(3, 32));
    assert.deepEqual(await fresh.get(0, 0, 100), entry(3, 32));
    // A put after the load goes into the cached history in epoch order.
    await fresh.put(0, 0, entry(2, 20), 1);
    assert.deepEqual(await fresh.get(0, 0, 3), entry(2, 20));
    assert.deepEqual(await fresh.get(0, 0, 4), entry(3, 32));
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
      t.blobs,
      lease,
      1,
      Uint8Array.of(1, 2),
      Uint8Array.of(3),
    );
    await saveCheckpoint(
      t.db,
      t.blobs,
      lease,
      2,
      Uint8Array.of(4, 5, 6),
      Uint8Array.of(),
    );
    const latest = await loadLatestCheckpoint(t.db, t.blobs, job.id);
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
    const created = await createDataset(t.db, t.blobs, {
      tenant: "a",
      name: "tiny.csv",
      format: "csv",
      shape: [4],
    }, await t.blobs.stage(bytesStream(content)));
    assert.equal(created.bytes, content.length);
    assert.equal(created.blobSha256, created.sha256);
    assert.equal("content" in created, false);
    assert.equal((await listDatasets(t.db, "a")).length, 1);
    assert.equal((await listDatasets(t.db, "b")).length, 0);
    assert.equal(await getDataset(t.db, "b", created.id), undefined);
    const summary = await getDataset(t.db, "a", created.id);
    assert.equal(summary?.name, "tiny.csv");
    assert.equal(summary && "content" in summary, false);
    const full = await getDataset(t.db, "a", created.id, { withContent: true });
    assert.equal(full?.content, null, "the content is in the blob store");
    assert.deepEqual(await readDatasetContent(t.blobs, full!), content);
    assert.deepEqual(full?.shape, [4]);
  } finally {
    await t.close();
  }
});
