/**
 * Content-addressed storage for large binaries (dataset content,
 * checkpoints, exported weights): a blob's name is the hex SHA-256 of its
 * bytes, so identical content is stored once. Postgres keeps who refers to
 * which blob (db/blob_refs.ts); the store only holds bytes.
 */

/** A stored blob's name and length. */
export interface BlobRef {
  /** Lowercase hex SHA-256 of the content. */
  sha256: string;
  /** Bytes. */
  size: number;
}

/**
 * Content written out of sight and hashed, not yet under its name. Writers
 * whose blob a row will reference commit it inside the transaction that
 * writes the row (db/blob_refs.ts commitBlobs), so garbage collection can
 * never delete it in between.
 */
export interface StagedBlob extends BlobRef {
  /** Puts the content under its name; atomic, and idempotent. */
  commit(): Promise<void>;
  /** Drops the staged copy; safe after commit and more than once. */
  discard(): Promise<void>;
}

/** What a blob store does; {@link FileBlobStore} and the S3 store implement it. */
export interface BlobStore {
  /** Writes `content` aside while hashing and counting it. */
  stage(content: ReadableStream<Uint8Array>): Promise<StagedBlob>;
  /** {@link stage} then commit: for content no row will reference. */
  put(content: ReadableStream<Uint8Array>): Promise<BlobRef>;
  /**
   * The content of `sha256`.
   * @throws {BlobNotFoundError} when there is no such blob.
   */
  get(sha256: string): Promise<ReadableStream<Uint8Array>>;
  /** Removes a blob; no error when it is already gone. */
  delete(sha256: string): Promise<void>;
  exists(sha256: string): Promise<boolean>;
  /** Where it stores, for logs (a path or an s3:// URL). */
  readonly location: string;
  /** Releases connections and scratch space; the store is unusable after. */
  close(): Promise<void>;
}

/** A blob a row names is missing from the store. */
export class BlobNotFoundError extends Error {
  constructor(readonly sha256: string, options?: ErrorOptions) {
    super(`blob ${sha256} is not in the blob store`, options);
    this.name = "BlobNotFoundError";
  }
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Refuses anything but a lowercase hex SHA-256, so a name can never climb
 * out of the store's directory or prefix.
 * @throws {RangeError} otherwise.
 */
export function assertSha256(sha256: string): void {
  if (!SHA256_HEX.test(sha256)) {
    throw new RangeError(`not a hex SHA-256 blob name: "${sha256}"`);
  }
}

/** Chunks handed out by {@link bytesStream}: small enough not to stall a pipe. */
const CHUNK_BYTES = 1 << 20;

/** `bytes` as a stream of views (no copy). */
export function bytesStream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) {
        controller.close();
        return;
      }
      const end = Math.min(at + CHUNK_BYTES, bytes.length);
      controller.enqueue(bytes.subarray(at, end));
      at = end;
    },
  }, { highWaterMark: 0 });
}

/**
 * Reads a whole blob into one buffer, for consumers that decode in memory
 * (the worker's datasets and checkpoints). `size`, when known, sizes the
 * buffer up front instead of growing it.
 * @throws {BlobNotFoundError} when it is missing; RangeError when its length
 * is not `size`.
 */
export async function readBlob(
  store: BlobStore,
  sha256: string,
  size?: number,
): Promise<Uint8Array> {
  const stream = await store.get(sha256);
  if (size === undefined) {
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }
  const out = new Uint8Array(size);
  let at = 0;
  for await (const chunk of stream) {
    if (at + chunk.length > size) {
      throw new RangeError(`blob ${sha256} is longer than its ${size} bytes`);
    }
    out.set(chunk, at);
    at += chunk.length;
  }
  if (at !== size) {
    throw new RangeError(`blob ${sha256} has ${at} bytes, expected ${size}`);
  }
  return out;
}

/** {@link BlobStore.put} for any store: stage, commit, and always clean up. */
export async function putByStaging(
  store: Pick<BlobStore, "stage">,
  content: ReadableStream<Uint8Array>,
): Promise<BlobRef> {
  const staged = await store.stage(content);
  try {
    await staged.commit();
  } finally {
    await staged.discard();
  }
  return { sha256: staged.sha256, size: staged.size };
}
