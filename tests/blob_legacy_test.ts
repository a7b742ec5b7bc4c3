/**
 * Upgrading a database from before the blob store: rows that hold their
 * payloads in bytea (datasets.content, checkpoints.weights and
 * optimizer_state, job_models.weight_data) survive the migration and read
 * back exactly, through the same functions as blob-backed rows; newer
 * writes then move the job to blobs.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import {
  claimNextJob,
  getDataset,
  getJobModel,
  getLatestCheckpoint,
  loadLatestCheckpoint,
  migrateDb,
  openJobModelWeights,
  readDatasetContent,
  saveCheckpoint,
  saveJobModel,
} from "../db/mod.ts";
import { loadJobDataset } from "../workers/job_dataset.ts";
import { createTestDb, leaseOf, type TestDb } from "./_db.ts";

const MIGRATIONS = fileURLToPath(new URL("../migrations", import.meta.url));
/** The first migration that knows about blobs. */
const BLOB_MIGRATION = "0006_blob_store";

/** Applies the migrations before the blob store's, as an old version did. */
async function migrateToBeforeBlobs(t: TestDb): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fngd_old_migrations_" });
  try {
    const journal = JSON.parse(
      await Deno.readTextFile(join(MIGRATIONS, "meta/_journal.json")),
    ) as { entries: { idx: number; tag: string }[] };
    const cut = journal.entries.findIndex((e) => e.tag === BLOB_MIGRATION);
    assert.ok(cut > 0, "the blob migration is in the journal");
    journal.entries = journal.entries.slice(0, cut);
    await Deno.mkdir(join(dir, "meta"));
    await Deno.writeTextFile(
      join(dir, "meta/_journal.json"),
      JSON.stringify(journal),
    );
    for (const { tag } of journal.entries) {
      await Deno.copyFile(
        join(MIGRATIONS, `${tag}.sql`),
        join(dir, `${tag}.sql`),
      );
    }
    await migrate(t.db, { migrationsFolder: dir });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** An uncompressed IDX file of unsigned bytes. */
function idx(dims: number[], values: number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + values.length);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(values, 4 + 4 * dims.length);
  return out;
}

Deno.test("rows from before the blob store read back after the upgrade", async () => {
  const t = await createTestDb({ migrate: false });
  try {
    await migrateToBeforeBlobs(t);
    const columns = await t.db.sql`
      select column_name from information_schema.columns
      where table_name = 'datasets' and column_name = 'blob_sha256'`;
    assert.equal(columns.length, 0, "an old schema");

    // What the old version wrote: payloads in bytea.
    const content = new Uint8Array([
      ...idx([2, 2, 2], [0, 255, 1, 2, 3, 4, 5, 6]),
      ...idx([2], [1, 0]),
    ]);
    const weights = Uint8Array.from({ length: 4000 }, (_, i) => i % 256);
    const optimizer = Uint8Array.from({ length: 1000 }, (_, i) => i % 7);
    const modelWeights = Uint8Array.from({ length: 64 }, (_, i) => 255 - i);
    const [{ id: jobId }] = await t.db.sql`
      insert into jobs (tenant, spec) values ('a', '{}') returning id`;
    const [{ id: datasetId }] = await t.db.sql`
      insert into datasets (tenant, name, format, shape, bytes, sha256, content)
      values ('a', 'old', 'idx', '[2, 2, 1]', ${content.length},
        ${"0".repeat(64)}, ${content})
      returning id`;
    await t.db.sql`
      insert into checkpoints (job_id, epoch, weights, optimizer_state)
      values (${jobId}, 1, ${weights}, ${optimizer})`;
    await t.db.sql`
      insert into job_models (job_id, model_json, weight_data)
      values (${jobId}, '{"format": "layers-model"}', ${modelWeights})`;

    await migrateDb(t.db);

    const dataset = await getDataset(t.db, "a", datasetId, {
      withContent: true,
    });
    assert.equal(dataset?.blobSha256, null);
    assert.deepEqual(await readDatasetContent(t.blobs, dataset!), content);
    const data = await loadJobDataset(
      t.db,
      t.blobs,
      "a",
      { id: datasetId },
      undefined,
    );
    assert.deepEqual([...data.y], [1, 0]);
    assert.equal(data.x[1], 1);

    assert.deepEqual(await loadLatestCheckpoint(t.db, t.blobs, jobId), {
      epoch: 1,
      weights,
      optimizerState: optimizer,
    });
    const model = await getJobModel(t.db, jobId);
    assert.deepEqual(
      new Uint8Array(
        await new Response(await openJobModelWeights(t.blobs, model!))
          .arrayBuffer(),
      ),
      modelWeights,
    );

    // The job runs on: its next checkpoint and model go to blobs, and the
    // legacy checkpoint row is dropped as any superseded one is.
    const claimed = await claimNextJob(t.db, "w", 30);
    assert.equal(claimed?.id, jobId);
    const lease = leaseOf(claimed!);
    const w2 = new Uint8Array(100).fill(9);
    const o2 = new Uint8Array(10).fill(8);
    assert.ok(await saveCheckpoint(t.db, t.blobs, lease, 2, w2, o2));
    const row = await getLatestCheckpoint(t.db, jobId);
    assert.equal(row?.epoch, 2);
    assert.equal(row?.weights, null);
    assert.deepEqual(await loadLatestCheckpoint(t.db, t.blobs, jobId), {
      epoch: 2,
      weights: w2,
      optimizerState: o2,
    });
    const [{ n }] = await t.db.sql`
      select count(*)::int as n from checkpoints where job_id = ${jobId}`;
    assert.equal(n, 1);
    assert.ok(
      await saveJobModel(t.db, t.blobs, lease, { v: 2 }, new Uint8Array(8)),
    );
    const replaced = await getJobModel(t.db, jobId);
    assert.equal(replaced?.weightData, null);
    assert.equal(await t.blobs.exists(replaced!.weightsSha256!), true);
  } finally {
    await t.close();
  }
});

Deno.test("a row must hold its payload in exactly one place", async () => {
  const t = await createTestDb();
  try {
    const [{ id: jobId }] = await t.db.sql`
      insert into jobs (tenant, spec) values ('a', '{}') returning id`;
    await assert.rejects(
      t.db.sql`insert into checkpoints (job_id, epoch) values (${jobId}, 1)`,
      /checkpoints_payload_check/,
    );
    await assert.rejects(
      t.db.sql`
        insert into datasets (tenant, name, format, shape, bytes, sha256)
        values ('a', 'x', 'csv', '[1]', 0, '')`,
      /datasets_content_check/,
    );
  } finally {
    await t.close();
  }
});
