/**
 * Uploads over real HTTP land in the blob store with their metadata in
 * Postgres; a gzip bomb, an oversized streamed body and a decode past its
 * time budget are refused with nothing stored, no row and no blob.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { getDataset, readBlob } from "../db/mod.ts";
import { encodeIdx } from "../routes/_idx_upload.ts";
import { ApiError } from "../routes/problem.ts";
import { startApi } from "./_api.ts";
import { form as multipart, gzip, idx } from "./_uploads.ts";

/** Files named `<field>.gz`, as the gzipped parts are. */
const form = (fields: Record<string, string | Uint8Array>) =>
  multipart(fields, ".gz");

const sha256 = (bytes: Uint8Array) =>
  createHash("sha256").update(bytes).digest("hex");

/** Every file under `dir`, relative, sorted ([] when it does not exist). */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      if (e.isDirectory) await walk(join(d, e.name));
      else out.push(join(d, e.name).slice(dir.length + 1));
    }
  };
  await walk(dir).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  return out.sort();
}

Deno.test("uploads stream into the blob store", async (t) => {
  const api = await startApi();
  const blobDir = join(api.tdb.dataDir, "blobs");
  const upload = (fd: FormData | ReadableStream<Uint8Array>, headers = {}) =>
    api.call("/v1/datasets", { method: "POST", body: fd, headers });
  try {
    const images = idx([50, 8, 8], (i) => (i * 13) % 256);
    const labels = idx([50], (i) => i % 4);
    const testImages = idx([5, 8, 8], (i) => i % 256);
    const testLabels = idx([5], (i) => i % 3);

    await t.step("an IDX upload is one blob, its metadata a row", async () => {
      const res = await upload(form({
        name: "streamed",
        format: "idx",
        // Files in another order than stored: storage order is fixed.
        test_labels: testLabels,
        labels: await gzip(labels),
        images: await gzip(images),
        test_images: testImages,
      }));
      assert.equal(res.status, 201, await res.clone().text());
      const body = await res.json();
      const stored = new Uint8Array([
        ...images,
        ...labels,
        ...testImages,
        ...testLabels,
      ]);
      assert.equal(body.sha256, sha256(stored));
      assert.equal(body.bytes, stored.length);
      assert.equal(body.samples, 50);
      assert.equal(body.classes, 4);
      const row = await getDataset(api.tdb.db, "alice", body.id, {
        withContent: true,
      });
      assert.equal(row?.blobSha256, body.sha256);
      assert.equal(row?.tenant, "alice");
      assert.equal(row?.content, null, "no bytes in Postgres");
      assert.deepEqual(
        await readBlob(api.tdb.blobs, body.sha256, body.bytes),
        stored,
      );
      assert.deepEqual(await filesUnder(blobDir), [
        `${body.sha256.slice(0, 2)}/${body.sha256}`,
      ], "one blob, nothing left staged");
    });

    const before = {
      rows: await api.count("datasets"),
      files: await filesUnder(blobDir),
    };
    const nothingStored = async () => {
      assert.equal(await api.count("datasets"), before.rows);
      assert.deepEqual(await filesUnder(blobDir), before.files);
    };

    await t.step("a gzip bomb is 400 and stores nothing", async () => {
      // 8 KiB of gzip inflating to 8 MiB, past the 1 MiB budget (4 x 256 KiB).
      const bomb = await gzip(idx([8 * 1024, 32, 32], () => 0));
      assert.ok(bomb.length < 16 * 1024);
      const started = performance.now();
      const res = await upload(form({
        name: "bomb",
        format: "idx",
        images: bomb,
        labels: idx([8 * 1024], () => 0),
      }));
      assert.equal(res.status, 400);
      const p = await res.json();
      assert.equal(p.code, "invalid_dataset");
      assert.match(
        p.detail,
        /^images: gzip data inflates past the limit of 1048576 bytes/,
      );
      assert.ok(performance.now() - started < 5000, "refused quickly");
      await nothingStored();
    });

    await t.step(
      "a CSV that fails on its last row stores nothing",
      async () => {
        const rows = Array.from({ length: 2000 }, (_, i) => `${i},${i % 2}`);
        rows.push("oops,1");
        const res = await upload(form({
          name: "late",
          format: "csv",
          file: new TextEncoder().encode(`x,label\n${rows.join("\n")}\n`),
        }));
        assert.equal(res.status, 400);
        assert.match((await res.json()).detail, /line 2002, column 1/);
        await nothingStored();
      },
    );

    await t.step("a streamed body past MAX_UPLOAD_BYTES is 413", async () => {
      // No Content-Length: the limit is found while reading.
      const boundary = "fngd-boundary";
      const head = new TextEncoder().encode(
        `--${boundary}\r\ncontent-disposition: form-data; name="images"; filename="x"\r\n\r\n`,
      );
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent === 0) controller.enqueue(head);
          if (sent > 2 * 1024 * 1024) controller.close();
          else controller.enqueue(new Uint8Array(64 * 1024));
          sent += 64 * 1024;
        },
      });
      const res = await upload(body, {
        "content-type": `multipart/form-data; boundary=${boundary}`,
      });
      assert.equal(res.status, 413);
      assert.equal((await res.json()).code, "payload_too_large");
      await nothingStored();
    });

    await t.step("inflating is bounded in time too", async () => {
      const dir = await Deno.makeTempDir();
      try {
        const path = join(dir, "images.gz");
        const gz = await gzip(images);
        await Deno.writeFile(path, gz);
        const labelsPath = join(dir, "labels");
        await Deno.writeFile(labelsPath, labels);
        await assert.rejects(
          encodeIdx(
            {
              images: { path, size: gz.length, filename: "images.gz" },
              labels: { path: labelsPath, size: labels.length, filename: "l" },
            },
            api.tdb.blobs,
            { maxBytes: 1 << 20, deadline: Date.now() - 1 },
          ),
          (e: unknown) =>
            e instanceof ApiError && e.code === "invalid_dataset" &&
            /^images: gzip data took too long to inflate/.test(e.message),
        );
        await nothingStored();
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  } finally {
    await api.close();
  }
});
