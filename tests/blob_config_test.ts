/** BLOB_URL and the AWS variables: parsed at start, a bad one named at once. */
import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { FileBlobStore } from "../db/mod.ts";
import { openBlobStore } from "../src/blob_store.ts";
import { ConfigError, loadConfig } from "../src/config.ts";

Deno.test("without BLOB_URL blobs are files in DATA_DIR/blobs", async () => {
  const config = loadConfig({ DATA_DIR: "some/dir" });
  assert.equal(config.blobS3, undefined);
  const store = await openBlobStore(config);
  assert.ok(store instanceof FileBlobStore);
  assert.equal(store.location, join(resolve("some/dir"), "blobs"));
});

Deno.test("BLOB_URL names a bucket and prefix; the endpoint comes from AWS_*", async () => {
  const config = loadConfig({
    BLOB_URL: "s3://fngd-blobs/team/a/",
    AWS_ENDPOINT_URL: "http://127.0.0.1:9000",
    AWS_ENDPOINT_URL_S3: "http://127.0.0.1:9001",
    AWS_REGION: "eu-west-1",
  });
  assert.deepEqual(config.blobS3, {
    bucket: "fngd-blobs",
    prefix: "team/a/",
    endpoint: "http://127.0.0.1:9001",
    region: "eu-west-1",
  });
  assert.deepEqual(loadConfig({ BLOB_URL: "s3://fngd-blobs" }).blobS3, {
    bucket: "fngd-blobs",
    prefix: "",
    endpoint: undefined,
    region: "us-east-1",
  });
  const store = await openBlobStore(config);
  try {
    assert.equal(store.location, "s3://fngd-blobs/team/a/");
  } finally {
    await store.close();
  }
});

Deno.test("a malformed BLOB_URL or endpoint fails at start, naming it", () => {
  for (
    const url of [
      "http://bucket/x",
      "s3://ab/x",
      "s3://Upper/x",
      "s3://-bucket",
      "s3://bucket?x=1",
      "bucket/prefix",
    ]
  ) {
    assert.throws(
      () => loadConfig({ BLOB_URL: url }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message.includes("BLOB_URL must look like") &&
        e.message.includes(url),
      url,
    );
  }
  assert.throws(
    () =>
      loadConfig({ BLOB_URL: "s3://fngd-blobs", AWS_ENDPOINT_URL_S3: "nope" }),
    /AWS_ENDPOINT_URL_S3 must be an http\(s\) URL/,
  );
  // The endpoint is not checked when nothing uses it.
  assert.equal(loadConfig({ AWS_ENDPOINT_URL: "nope" }).blobS3, undefined);
});
