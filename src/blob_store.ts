/**
 * The blob store the config names: S3 when BLOB_URL is set, else files under
 * DATA_DIR/blobs. The S3 client is loaded only when used (it is large).
 */
import { resolve } from "node:path";
import { type BlobStore, FileBlobStore } from "../db/mod.ts";
import type { Config } from "./config.ts";

/** Opens the configured store; the caller closes it. */
export async function openBlobStore(
  config: Pick<Config, "dataDir" | "blobS3">,
): Promise<BlobStore> {
  if (!config.blobS3) {
    return new FileBlobStore(resolve(config.dataDir, "blobs"));
  }
  const { S3BlobStore } = await import("../db/s3_blob_store.ts");
  const { bucket, prefix, endpoint, region } = config.blobS3;
  return new S3BlobStore({ bucket, prefix, endpoint, region });
}
