/**
 * The blob stores on their own: the file store in a temp directory, and the
 * S3 store against a local s3rver. Both stream (content goes through in
 * pieces), hash, store identical content once, and never show a partial
 * blob under its name.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import {
  BlobNotFoundError,
  type BlobStore,
  bytesStream,
  FileBlobStore,
  readBlob,
} from "../db/mod.ts";
import { S3BlobStore } from "../db/s3_blob_store.ts";
import { S3RVER_CREDENTIALS, startLocalS3 } from "./_s3.ts";

const sha256 = (bytes: Uint8Array) =>
  createHash("sha256").update(bytes).digest("hex");

/** `n` bytes of a seeded pattern. */
function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** A stream that yields `bytes` in `pieces` chunks, then fails. */
function failingStream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    pull(controller) {
      if (!sent) {
        sent = true;
        controller.enqueue(bytes);
        return;
      }
      controller.error(new Error("client went away"));
    },
  });
}

async function listFiles(dir: string): Promise<string[]> {
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

/** What every store must do, run against each. */
async function contract(
  t: Deno.TestContext,
  store: BlobStore,
  staged: () => Promise<string[]>,
): Promise<void> {
  const big = pattern(3 * 1024 * 1024 + 17);
  await t.step(
    "put streams, hashes and counts; get returns the bytes",
    async () => {
      const ref = await store.put(bytesStream(big));
      assert.equal(ref.sha256, sha256(big));
      assert.equal(ref.size, big.length);
      assert.equal(await store.exists(ref.sha256), true);
      assert.deepEqual(await readBlob(store, ref.sha256, big.length), big);
      assert.deepEqual(await staged(), [], "nothing left staged");
    },
  );

  await t.step(
    "staged content is not under its name until committed",
    async () => {
      const bytes = pattern(1000, 2);
      const s = await store.stage(bytesStream(bytes));
      assert.equal(s.sha256, sha256(bytes));
      assert.equal(await store.exists(s.sha256), false);
      await s.commit();
      assert.equal(await store.exists(s.sha256), true);
      await s.discard(); // after commit: keeps the blob
      assert.equal(await store.exists(s.sha256), true);
      const dropped = await store.stage(bytesStream(pattern(1000, 3)));
      await dropped.discard();
      assert.equal(await store.exists(dropped.sha256), false);
      assert.deepEqual(await staged(), []);
    },
  );

  await t.step("a stream that fails leaves nothing behind", async () => {
    await assert.rejects(
      store.put(failingStream(pattern(5000, 4))),
      /client went away/,
    );
    assert.deepEqual(await staged(), []);
  });

  await t.step(
    "identical content is stored once; concurrent puts agree",
    async () => {
      const bytes = pattern(256 * 1024, 5);
      const refs = await Promise.all(
        Array.from({ length: 6 }, () => store.put(bytesStream(bytes))),
      );
      assert.equal(new Set(refs.map((r) => r.sha256)).size, 1);
      assert.deepEqual(await readBlob(store, refs[0].sha256), bytes);
      assert.deepEqual(await staged(), []);
    },
  );

  await t.step(
    "delete removes; a missing blob is BlobNotFoundError",
    async () => {
      const ref = await store.put(bytesStream(pattern(10, 6)));
      await store.delete(ref.sha256);
      await store.delete(ref.sha256); // already gone: no error
      assert.equal(await store.exists(ref.sha256), false);
      await assert.rejects(store.get(ref.sha256), BlobNotFoundError);
    },
  );

  await t.step("names must be SHA-256 hex", async () => {
    await assert.rejects(store.get("../../etc/passwd"), RangeError);
    await assert.rejects(store.exists("ABC"), RangeError);
  });
}

Deno.test("the file blob store", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "fngd_blobs_" });
  const store = new FileBlobStore(join(dir, "blobs"));
  const staged = async () =>
    (await listFiles(join(dir, "blobs"))).filter((f) => f.startsWith("tmp/"));
  try {
    await contract(t, store, staged);

    await t.step(
      "blobs are files named by hash, written by rename",
      async () => {
        const bytes = pattern(4096, 7);
        const s = await store.stage(bytesStream(bytes));
        const [temp] = await staged();
        assert.match(temp, /^tmp\/.+\.part$/, "written under tmp/ first");
        const { ino } = await Deno.stat(join(dir, "blobs", temp));
        await s.commit();
        const final = store.pathOf(s.sha256);
        assert.equal(final, join(dir, "blobs", s.sha256.slice(0, 2), s.sha256));
        assert.equal((await Deno.stat(final)).ino, ino, "renamed, not copied");
        assert.deepEqual(await Deno.readFile(final), bytes);
        assert.deepEqual(await staged(), []);
      },
    );

    await t.step("a crashed writer's stale temp file is swept", async () => {
      const fresh = new FileBlobStore(join(dir, "blobs"));
      const stale = join(dir, "blobs", "tmp", "crashed.part");
      await Deno.writeFile(stale, pattern(10));
      const old = new Date(Date.now() - 2 * 24 * 3600 * 1000);
      await Deno.utime(stale, old, old);
      await fresh.put(bytesStream(pattern(10, 8)));
      assert.deepEqual(await staged(), []);
    });
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "the S3 blob store, against a local s3rver",
  // The SDK keeps pooled sockets until destroy(); close() does that.
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const s3 = await startLocalS3();
    const spoolDir = await Deno.makeTempDir({ prefix: "fngd_spool_" });
    const store = new S3BlobStore({
      bucket: s3.bucket,
      prefix: "blobs/",
      endpoint: s3.endpoint,
      region: "us-east-1",
      credentials: S3RVER_CREDENTIALS,
      spoolDir,
    });
    const keys = async () => {
      const out = await s3.client.send(
        new ListObjectsV2Command({ Bucket: s3.bucket }),
      );
      return (out.Contents ?? []).map((o) => o.Key!).sort();
    };
    const staged = async () => [
      ...(await keys()).filter((k) => k.startsWith("blobs/tmp/")),
      ...(await listFiles(spoolDir)),
    ];
    try {
      await contract(t, store, staged);
      await t.step("objects are <prefix><sha256>", async () => {
        const ref = await store.put(bytesStream(pattern(100, 9)));
        assert.ok((await keys()).includes(`blobs/${ref.sha256}`));
        assert.equal(store.location, `s3://${s3.bucket}/blobs/`);
      });
    } finally {
      await store.close();
      await s3.close();
      await Deno.remove(spoolDir, { recursive: true }).catch(() => {});
    }
  },
});
