/** The worker reads uploaded datasets back from the blob store. */
import assert from "node:assert/strict";
import { bytesStream, createDataset } from "../db/mod.ts";
import { loadJobDataset } from "../workers/job_dataset.ts";
import { createTestDb, type TestDb } from "./_db.ts";

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

/** Stores `content` as an upload would: a blob, and the row naming it. */
async function store(
  t: TestDb,
  tenant: string,
  name: string,
  format: "idx" | "csv",
  shape: number[],
  content: Uint8Array,
) {
  return await createDataset(
    t.db,
    t.blobs,
    { tenant, name, format, shape },
    await t.blobs.stage(bytesStream(content)),
  );
}

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

Deno.test("loadJobDataset decodes stored IDX (with test split) and CSV uploads, per tenant", async () => {
  const t = await createTestDb();
  try {
    const images = idx([3, 2, 2], [0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8]);
    const labels = idx([3], [1, 0, 2]);
    const testImages = idx([1, 2, 2], [255, 0, 0, 255]);
    const testLabels = idx([1], [2]);
    const content = concat(images, labels, testImages, testLabels);
    const stored = await store(t, "a", "tiny-idx", "idx", [2, 2, 1], content);
    const data = await loadJobDataset(
      t.db,
      t.blobs,
      "a",
      { id: stored.id },
      undefined,
    );
    assert.deepEqual([...data.y], [1, 0, 2]);
    assert.equal(data.x.length, 12);
    assert.equal(data.x[1], 1, "pixels scaled to [0, 1]");
    assert.equal(data.x[2], Math.fround(0.2));
    assert.deepEqual([...data.test!.y], [2]);

    await assert.rejects(
      loadJobDataset(t.db, t.blobs, "b", { id: stored.id }, undefined),
      { name: "EngineError", code: "data_not_found" },
    );

    const csv = new TextEncoder().encode("f1,f2,label\n0.5,1,0\n2,3,1\n");
    const storedCsv = await store(t, "a", "tiny.csv", "csv", [2], csv);
    const table = await loadJobDataset(
      t.db,
      t.blobs,
      "a",
      { id: storedCsv.id },
      undefined,
    );
    assert.deepEqual([...table.x], [0.5, 1, 2, 3]);
    assert.deepEqual([...table.y], [0, 1]);

    const torn = content.subarray(0, content.length - 1);
    const broken = await store(t, "a", "torn", "idx", [2, 2, 1], torn);
    await assert.rejects(
      loadJobDataset(t.db, t.blobs, "a", { id: broken.id }, undefined),
      { name: "EngineError", code: "invalid_data" },
    );
  } finally {
    await t.close();
  }
});

Deno.test("loadJobDataset refuses local file datasets and builds synthetic ones", async () => {
  const t = await createTestDb();
  try {
    await assert.rejects(
      loadJobDataset(t.db, t.blobs, "a", {
        format: "csv",
        path: "/etc/passwd",
        label_column: "label",
      }, undefined),
      { name: "EngineError", code: "invalid_spec" },
    );
    const data = await loadJobDataset(t.db, t.blobs, "a", {
      name: "synthetic",
      samples: 10,
      features: 3,
      classes: 2,
      seed: 1,
      test_samples: 0,
    }, undefined);
    assert.equal(data.y.length, 10);
    assert.deepEqual(data.sampleShape, [3]);
  } finally {
    await t.close();
  }
});
