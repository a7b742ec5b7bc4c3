/**
 * Blob references and garbage collection, on a real database and file
 * store: a superseded checkpoint's blobs go, content another row still
 * names stays, and a write whose lease is gone commits nothing.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  blobRefs,
  bytesStream,
  claimNextJob,
  collectBlobs,
  createDataset,
  createJob,
  FileBlobStore,
  getJobModel,
  getLatestCheckpoint,
  loadLatestCheckpoint,
  pinBlobs,
  releaseRefs,
  saveCheckpoint,
  saveJobModel,
  sweepBlobs,
} from "../db/mod.ts";
import { join } from "node:path";
import { createClaimedJob, createTestDb, leaseOf } from "./_db.ts";

const sha256 = (bytes: Uint8Array) =>
  createHash("sha256").update(bytes).digest("hex");

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

Deno.test("a superseded checkpoint's blobs are collected, shared ones kept", async () => {
  const t = await createTestDb();
  try {
    const { job, lease } = await createClaimedJob(t.db);
    const w1 = bytes(1000, 1);
    const o1 = bytes(500, 2);
    assert.ok(await saveCheckpoint(t.db, t.blobs, lease, 1, w1, o1));
    assert.equal(await t.blobs.exists(sha256(w1)), true);
    assert.equal(await t.blobs.exists(sha256(o1)), true);
    const row = await getLatestCheckpoint(t.db, job.id);
    assert.equal(row?.weights, null, "no bytea in new rows");
    assert.equal(row?.weightsSha256, sha256(w1));
    assert.equal(row?.weightsSize, 1000);

    // Epoch 2 keeps epoch 1's optimizer state (same bytes): that blob stays.
    const w2 = bytes(1000, 3);
    assert.ok(await saveCheckpoint(t.db, t.blobs, lease, 2, w2, o1));
    assert.equal(await t.blobs.exists(sha256(w1)), false, "superseded");
    assert.equal(await t.blobs.exists(sha256(o1)), true, "still named");
    assert.equal(await t.blobs.exists(sha256(w2)), true);

    // A dataset with the same bytes as the current weights shares the blob.
    const dataset = await createDataset(t.db, t.blobs, {
      tenant: "a",
      name: "same-bytes",
      format: "csv",
      shape: [1],
    }, await t.blobs.stage(bytesStream(w2)));
    assert.equal(dataset.blobSha256, sha256(w2));
    const w3 = bytes(1000, 4);
    const o3 = bytes(500, 5);
    assert.ok(await saveCheckpoint(t.db, t.blobs, lease, 3, w3, o3));
    assert.equal(
      await t.blobs.exists(sha256(w2)),
      true,
      "the dataset names it",
    );
    assert.equal(await t.blobs.exists(sha256(o1)), false);
    assert.deepEqual(await collectBlobs(t.db, t.blobs, [sha256(w2)]), []);
    assert.equal(await blobRefs(t.db, sha256(w2)), 1, "the dataset's");
    assert.equal(await blobRefs(t.db, sha256(w3)), 1);

    // Retrying the same epoch (a retry after a lost reply) keeps its blobs.
    assert.ok(await saveCheckpoint(t.db, t.blobs, lease, 3, w3, o3));
    const latest = await loadLatestCheckpoint(t.db, t.blobs, job.id);
    assert.deepEqual(latest, { epoch: 3, weights: w3, optimizerState: o3 });
    const [{ n }] = await t.db.sql`
      select count(*)::int as n from checkpoints where job_id = ${job.id}`;
    assert.equal(n, 1, "only the newest row");
    assert.equal(await blobRefs(t.db, sha256(w3)), 1, "the retry counted once");
    assert.equal(await blobRefs(t.db, sha256(w1)), 0);
    const [{ rows }] = await t.db.sql`select count(*)::int as rows from blobs`;
    assert.equal(rows, 3, "w2 (the dataset's), w3 and o3");
  } finally {
    await t.close();
  }
});

Deno.test("a checkpoint or model whose lease is gone stores no blob", async () => {
  const t = await createTestDb();
  try {
    const { job, lease } = await createClaimedJob(t.db);
    // Another claim takes the job over (the attempt moves on).
    await t.db.sql`update jobs set lease_until = now() - interval '1 second'
      where id = ${job.id}`;
    const thief = await claimNextJob(t.db, "thief", 30);
    assert.equal(thief?.id, job.id);
    const w = bytes(300, 7);
    assert.equal(
      await saveCheckpoint(t.db, t.blobs, lease, 1, w, bytes(3, 8)),
      false,
    );
    assert.equal(await t.blobs.exists(sha256(w)), false);
    const weights = bytes(64, 9);
    assert.equal(
      await saveJobModel(t.db, t.blobs, lease, { format: "x" }, weights),
      false,
    );
    assert.equal(await t.blobs.exists(sha256(weights)), false);
    // The new holder can write.
    assert.ok(
      await saveJobModel(t.db, t.blobs, leaseOf(thief!), { a: 1 }, weights),
    );
    assert.equal(await t.blobs.exists(sha256(weights)), true);
  } finally {
    await t.close();
  }
});

Deno.test("a replaced model's weights blob is collected unless shared", async () => {
  const t = await createTestDb();
  try {
    const a = await createClaimedJob(t.db, {}, { workerId: "wa" });
    const first = bytes(128, 1);
    const second = bytes(128, 2);
    assert.ok(await saveJobModel(t.db, t.blobs, a.lease, { v: 1 }, first));
    assert.ok(await saveJobModel(t.db, t.blobs, a.lease, { v: 2 }, second));
    assert.equal(await t.blobs.exists(sha256(first)), false);
    const model = await getJobModel(t.db, a.job.id);
    assert.equal(model?.weightsSha256, sha256(second));
    assert.equal(model?.weightData, null);

    // A second job's model with the same bytes: replacing the first job's
    // model leaves the shared blob for the second.
    await createJob(t.db, { tenant: "a", spec: {} });
    const b = await claimNextJob(t.db, "wb", 30);
    assert.ok(await saveJobModel(t.db, t.blobs, leaseOf(b!), { v: 1 }, second));
    assert.ok(
      await saveJobModel(t.db, t.blobs, a.lease, { v: 3 }, bytes(128, 3)),
    );
    assert.equal(await t.blobs.exists(sha256(second)), true);
    assert.equal(await blobRefs(t.db, sha256(second)), 1);
  } finally {
    await t.close();
  }
});

Deno.test("collection and a commit of the same content never lose the blob", async () => {
  const t = await createTestDb();
  try {
    // Many rounds of: a row naming X is dropped and collected while another
    // writer commits X for a new row. Whatever the interleaving, a row that
    // names X must find it.
    const { job, lease } = await createClaimedJob(t.db);
    for (let round = 0; round < 10; round++) {
      const x = bytes(2048, 100 + round);
      await saveCheckpoint(t.db, t.blobs, lease, 2 * round + 1, x, x);
      const other = bytes(16, round);
      await Promise.all([
        // Supersedes the row naming x: its collection races the dataset.
        saveCheckpoint(t.db, t.blobs, lease, 2 * round + 2, other, other),
        (async () => {
          await createDataset(t.db, t.blobs, {
            tenant: "a",
            name: `race-${round}`,
            format: "csv",
            shape: [1],
          }, await t.blobs.stage(bytesStream(x)));
        })(),
      ]);
      assert.equal(await t.blobs.exists(sha256(x)), true, `round ${round}`);
    }
    assert.equal((await getLatestCheckpoint(t.db, job.id))?.epoch, 20);
  } finally {
    await t.close();
  }
});

/** The file store, with deletes held until `release()`: a collector caught mid-way. */
class GatedStore extends FileBlobStore {
  #gate = Promise.withResolvers<void>();
  deleting = Promise.withResolvers<void>();
  release() {
    this.#gate.resolve();
  }
  override async delete(sha: string): Promise<void> {
    this.deleting.resolve();
    await this.#gate.promise;
    await super.delete(sha);
  }
}

Deno.test("a blob being deleted is not pinned until the deletion ends; a pinned one is not deleted", async () => {
  const t = await createTestDb();
  try {
    const store = new GatedStore(join(t.dataDir, "blobs"));
    const x = bytes(512, 77);
    const sx = sha256(x);
    // X in the store with no reference left.
    await pinBlobs(t.db, [{ sha256: sx, size: x.length }]);
    await store.put(bytesStream(x));
    assert.deepEqual(await releaseRefs(t.db, [sx]), [sx]);

    const collecting = collectBlobs(t.db, store, [sx]);
    await store.deleting.promise; // marked, delete under way
    let pinned = false;
    const pinning = pinBlobs(t.db, [{ sha256: sx, size: x.length }]).then(
      () => pinned = true,
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(pinned, false, "the writer waits for the collector");
    store.release();
    assert.deepEqual(await collecting, [sx]);
    await pinning;
    assert.equal(await blobRefs(t.db, sx), 1);
    assert.equal(await store.exists(sx), false, "deleted before the pin");
    // Pinned, the writer commits the content again; no collector takes it.
    await store.put(bytesStream(x));
    assert.deepEqual(await collectBlobs(t.db, store, [sx]), []);
    assert.equal(await store.exists(sx), true);
    // Released and swept, it goes.
    await releaseRefs(t.db, [sx]);
    assert.deepEqual(await sweepBlobs(t.db, store), [sx]);
    assert.equal(await store.exists(sx), false);
    assert.equal(await blobRefs(t.db, sx), 0);
  } finally {
    await t.close();
  }
});
