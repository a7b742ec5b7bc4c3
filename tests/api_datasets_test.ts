/** /v1/datasets: uploads are parsed before they are stored, and sized. */
import assert from "node:assert/strict";
import { getDataset, readDatasetContent } from "../db/mod.ts";
import { sha256Hex } from "../routes/_sha256.ts";
import { KEY_B, postJob, startApi, syntheticJob } from "./_api.ts";
import { form, gzip, idx } from "./_uploads.ts";

const IMAGES = idx([6, 4, 4], (i) => (i * 7) % 256);
const LABELS = idx([6], (i) => i % 3);

Deno.test("datasets API", async (t) => {
  const api = await startApi();
  const upload = (fd: FormData, key?: string) =>
    api.call("/v1/datasets", { method: "POST", body: fd, key });
  try {
    let idxId = "";
    await t.step(
      "a gzipped IDX pair is parsed, stored raw and hashed",
      async () => {
        const res = await upload(form({
          name: "tiny",
          format: "idx",
          images: await gzip(IMAGES),
          labels: LABELS,
        }));
        assert.equal(res.status, 201);
        const body = await res.json();
        idxId = body.id;
        assert.equal(body.format, "idx");
        assert.deepEqual(body.shape, [4, 4, 1]);
        assert.equal(body.samples, 6);
        assert.equal(body.classes, 3);
        const stored = new Uint8Array([...IMAGES, ...LABELS]);
        assert.equal(body.bytes, stored.length);
        assert.equal(body.sha256, await sha256Hex(stored));
        const row = await getDataset(api.tdb.db, "alice", idxId);
        assert.equal(row?.blobSha256, body.sha256);
        assert.deepEqual(await readDatasetContent(api.tdb.blobs, row!), stored);
      },
    );

    await t.step(
      "a CSV is stored with its label column renamed to label",
      async () => {
        const csv = "a,b,c,d,y\n1,2,3,4,0\n5,6,7,8,1\n0.5,1e-3,-2,4,1\n";
        const res = await upload(form({
          name: "rows",
          format: "csv",
          file: new TextEncoder().encode(csv),
          label_column: "y",
          shape: "2,2",
        }));
        assert.equal(res.status, 201);
        const body = await res.json();
        assert.deepEqual(body.shape, [2, 2]);
        assert.equal(body.samples, 3);
        assert.equal(body.classes, 2);
        const row = await getDataset(api.tdb.db, "alice", body.id);
        assert.equal(
          new TextDecoder().decode(
            await readDatasetContent(api.tdb.blobs, row!),
          ),
          csv.replace("a,b,c,d,y", "a,b,c,d,label"),
        );
      },
    );

    await t.step(
      "corrupt or incomplete uploads are 400 and store nothing",
      async (t) => {
        const before = await api.count("datasets");
        const cases: [
          string,
          Record<string, string | Uint8Array>,
          string,
          RegExp,
        ][] = [
          [
            "truncated images",
            {
              name: "x",
              format: "idx",
              images: IMAGES.slice(0, 30),
              labels: LABELS,
            },
            "invalid_dataset",
            /images: truncated IDX data/,
          ],
          [
            "labels disagree",
            {
              name: "x",
              format: "idx",
              images: IMAGES,
              labels: idx([5], () => 0),
            },
            "invalid_dataset",
            /6 images but 5 labels/,
          ],
          [
            "bad gzip",
            {
              name: "x",
              format: "idx",
              images: new Uint8Array([0x1f, 0x8b, 1, 2, 3]),
              labels: LABELS,
            },
            "invalid_dataset",
            /images: corrupt gzip/,
          ],
          [
            "non-numeric CSV",
            {
              name: "x",
              format: "csv",
              file: new TextEncoder().encode("a,label\nfoo,1\n"),
            },
            "invalid_dataset",
            /line 2, column 1/,
          ],
          [
            "missing labels file",
            { name: "x", format: "idx", images: IMAGES },
            "validation_failed",
            /labels/,
          ],
          [
            "no name",
            { format: "csv", file: new TextEncoder().encode("a,label\n1,1\n") },
            "validation_failed",
            /name/,
          ],
        ];
        for (const [name, fields, code, detail] of cases) {
          await t.step(name, async () => {
            const res = await upload(form(fields));
            assert.equal(res.status, 400);
            assert.equal(
              res.headers.get("content-type"),
              "application/problem+json",
            );
            const p = await res.json();
            assert.equal(p.code, code);
            assert.match(
              code === "validation_failed"
                ? JSON.stringify(p.errors)
                : p.detail,
              detail,
            );
          });
        }
        const json = await api.call("/v1/datasets", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{}",
        });
        assert.equal(json.status, 415);
        await json.body?.cancel();
        assert.equal(await api.count("datasets"), before);
      },
    );

    await t.step("an upload over MAX_UPLOAD_BYTES is 413", async () => {
      const before = await api.count("datasets");
      const big = idx([300, 30, 30], () => 1); // 270 000 bytes > 256 KiB
      const res = await upload(form({
        name: "big",
        format: "idx",
        images: big,
        labels: idx([300], () => 0),
      }));
      assert.equal(res.status, 413);
      assert.equal((await res.json()).code, "payload_too_large");
      assert.equal(await api.count("datasets"), before);
    });

    await t.step("list and get are per tenant", async () => {
      const list = await (await api.call("/v1/datasets")).json();
      assert.deepEqual(list.data.map((d: { name: string }) => d.name), [
        "rows",
        "tiny",
      ]);
      assert.equal("content" in list.data[0], false);
      const one = await api.call(`/v1/datasets/${idxId}`);
      assert.equal(one.status, 200);
      assert.equal((await one.json()).name, "tiny");
      const foreign = await api.call(`/v1/datasets/${idxId}`, { key: KEY_B });
      assert.equal(foreign.status, 404);
      assert.equal((await foreign.json()).code, "dataset_not_found");
      const bobs = await (await api.call("/v1/datasets", { key: KEY_B }))
        .json();
      assert.deepEqual(bobs.data, []);
    });

    await t.step(
      "a job may name an uploaded dataset, but only its own tenant's",
      async () => {
        const spec = syntheticJob({
          model: {
            input_shape: [4, 4, 1],
            layers: [{ type: "flatten" }, { type: "dense", units: 3 }],
          },
          dataset: { id: idxId },
        });
        assert.equal((await postJob(api, spec)).status, 201);
        const bob = await postJob(api, spec, { key: KEY_B });
        assert.equal(bob.status, 400);
        assert.equal((await bob.json()).errors[0].path, "dataset.id");
      },
    );
  } finally {
    await api.close();
  }
});
