/**
 * Blobs in an S3-compatible bucket, `<prefix><sha256>`. Content is spooled
 * to a local temp file while it is hashed (so it is never held whole in
 * memory, and its length is known), uploaded under `<prefix>tmp/`, and
 * committed by a server-side copy to its final key: a reader never sees a
 * partial object under a blob's name, and the commit, which runs inside a
 * database transaction, moves no bytes through this process.
 */
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { createReadStream } from "node:fs";
import { join } from "node:path";
import { spoolToFile } from "./_blob_spool.ts";
import {
  assertSha256,
  BlobNotFoundError,
  type BlobRef,
  type BlobStore,
  putByStaging,
  type StagedBlob,
} from "./blob_store.ts";

/** Where and how to reach the bucket. */
export interface S3BlobStoreOptions {
  bucket: string;
  /** Key prefix, "" or ending in "/". */
  prefix: string;
  /** A custom endpoint (MinIO, s3rver...); addressed path-style. */
  endpoint?: string;
  region: string;
  /** Omitted: the SDK's default chain (AWS_ACCESS_KEY_ID, ...). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Local directory for spool files; default a fresh temp directory. */
  spoolDir?: string;
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === "NotFound" || e?.name === "NoSuchKey" ||
    e?.$metadata?.httpStatusCode === 404;
}

/** Blobs as objects in one bucket under one prefix. */
export class S3BlobStore implements BlobStore {
  readonly location: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  #spoolDir?: Promise<string>;

  constructor(private readonly opts: S3BlobStoreOptions) {
    this.#bucket = opts.bucket;
    this.#prefix = opts.prefix;
    this.location = `s3://${opts.bucket}/${opts.prefix}`;
    this.#client = new S3Client({
      region: opts.region,
      endpoint: opts.endpoint,
      forcePathStyle: opts.endpoint !== undefined,
      credentials: opts.credentials,
      // Checksums only where S3 demands them: the default streams
      // aws-chunked CRC trailers that S3-compatible servers often refuse.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  }

  keyOf(sha256: string): string {
    assertSha256(sha256);
    return `${this.#prefix}${sha256}`;
  }

  async stage(content: ReadableStream<Uint8Array>): Promise<StagedBlob> {
    const spool = join(await this.#spool(), `${crypto.randomUUID()}.part`);
    const ref = await spoolToFile(content, spool);
    const temp = `${this.#prefix}tmp/${crypto.randomUUID()}`;
    try {
      await this.#client.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: temp,
          Body: createReadStream(spool),
          ContentLength: ref.size,
        }),
      );
    } finally {
      await Deno.remove(spool).catch(() => {});
    }
    let done = false;
    const dropTemp = async () => {
      await this.#client.send(
        new DeleteObjectCommand({ Bucket: this.#bucket, Key: temp }),
      ).catch(() => {});
    };
    return {
      ...ref,
      commit: async () => {
        if (done) return;
        // Commits run under the blob's lock (db/blob_refs.ts), so a present
        // object cannot be deleted before the referencing row is written.
        if (!(await this.exists(ref.sha256))) {
          await this.#client.send(
            new CopyObjectCommand({
              Bucket: this.#bucket,
              Key: this.keyOf(ref.sha256),
              CopySource: `${this.#bucket}/${
                temp.split("/").map(encodeURIComponent).join("/")
              }`,
            }),
          );
        }
        done = true;
        await dropTemp();
      },
      discard: async () => {
        if (done) return;
        done = true;
        await dropTemp();
      },
    };
  }

  put(content: ReadableStream<Uint8Array>): Promise<BlobRef> {
    return putByStaging(this, content);
  }

  async get(sha256: string): Promise<ReadableStream<Uint8Array>> {
    try {
      const out = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: this.keyOf(sha256) }),
      );
      return out.Body!.transformToWebStream() as ReadableStream<Uint8Array>;
    } catch (err) {
      if (isNotFound(err)) throw new BlobNotFoundError(sha256, { cause: err });
      throw err;
    }
  }

  async delete(sha256: string): Promise<void> {
    await this.#client.send(
      new DeleteObjectCommand({
        Bucket: this.#bucket,
        Key: this.keyOf(sha256),
      }),
    );
  }

  async exists(sha256: string): Promise<boolean> {
    try {
      await this.#client.send(
        new HeadObjectCommand({
          Bucket: this.#bucket,
          Key: this.keyOf(sha256),
        }),
      );
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Releases the client's sockets and the spool directory. */
  async close(): Promise<void> {
    this.#client.destroy();
    if (!this.opts.spoolDir && this.#spoolDir) {
      await Deno.remove(await this.#spoolDir, { recursive: true })
        .catch(() => {});
    }
  }

  #spool(): Promise<string> {
    return this.#spoolDir ??= this.opts.spoolDir
      ? Deno.mkdir(this.opts.spoolDir, { recursive: true }).then(() =>
        this.opts.spoolDir!
      )
      : Deno.makeTempDir({ prefix: "fngd_blob_spool_" });
  }
}
