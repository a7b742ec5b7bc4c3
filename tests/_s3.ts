/**
 * A local S3-compatible server (s3rver) on 127.0.0.1 at a free port, with
 * its files in a temp directory and one bucket, for the S3 blob store tests.
 */
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import S3rver from "s3rver";

/** s3rver's fixed credentials. */
export const S3RVER_CREDENTIALS = {
  accessKeyId: "S3RVER",
  secretAccessKey: "S3RVER",
};

/** A running s3rver with one bucket. */
export interface LocalS3 {
  endpoint: string;
  bucket: string;
  /** A client on it (path-style, s3rver's credentials). */
  client: S3Client;
  /** The environment a service needs to use it as BLOB_URL (under `prefix`). */
  env(prefix?: string): Record<string, string>;
  close(): Promise<void>;
}

/** Starts s3rver and creates `bucket` (3-63 characters). */
export async function startLocalS3(
  bucket = "fngd-test-blobs",
): Promise<LocalS3> {
  const directory = await Deno.makeTempDir({ prefix: "fngd_s3rver_" });
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    endpoint,
    bucket,
    client,
    env: (prefix = "") => ({
      BLOB_URL: `s3://${bucket}/${prefix}`,
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      AWS_REGION: "us-east-1",
    }),
    async close() {
      client.destroy();
      await server.close();
      await Deno.remove(directory, { recursive: true }).catch(() => {});
    },
  };
}
