/**
 * The default blob store: files under one directory (DATA_DIR/blobs),
 * `ab/abcdef...` by SHA-256. Content is written under `tmp/` in the same
 * tree, flushed, and renamed into place, so a crash never leaves a partial
 * blob under its final name; rename is atomic, so concurrent writers of the
 * same content leave one whole copy.
 */
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

/** Staged files older than this are a crashed writer's and are swept. */
const STALE_TEMP_MS = 24 * 3600 * 1000;

/** Blobs as files under `root`. */
export class FileBlobStore implements BlobStore {
  readonly location: string;
  readonly #tmp: string;
  #ready?: Promise<void>;

  constructor(readonly root: string) {
    this.location = root;
    this.#tmp = join(root, "tmp");
  }

  /** The file of `sha256` (whether or not it exists). */
  pathOf(sha256: string): string {
    assertSha256(sha256);
    return join(this.root, sha256.slice(0, 2), sha256);
  }

  async stage(content: ReadableStream<Uint8Array>): Promise<StagedBlob> {
    await this.#init();
    const temp = join(this.#tmp, `${crypto.randomUUID()}.part`);
    const ref = await spoolToFile(content, temp);
    const final = this.pathOf(ref.sha256);
    let committed = false;
    return {
      ...ref,
      commit: async () => {
        if (committed) return;
        await Deno.mkdir(join(this.root, ref.sha256.slice(0, 2)), {
          recursive: true,
        });
        // Replacing an identical copy is harmless, and unlike "skip if
        // present" it leaves the blob there even if a delete raced ahead.
        await Deno.rename(temp, final);
        committed = true;
      },
      discard: async () => {
        if (!committed) await Deno.remove(temp).catch(() => {});
      },
    };
  }

  put(content: ReadableStream<Uint8Array>): Promise<BlobRef> {
    return putByStaging(this, content);
  }

  async get(sha256: string): Promise<ReadableStream<Uint8Array>> {
    try {
      return (await Deno.open(this.pathOf(sha256))).readable;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw new BlobNotFoundError(sha256, { cause: err });
      }
      throw err;
    }
  }

  async delete(sha256: string): Promise<void> {
    try {
      await Deno.remove(this.pathOf(sha256));
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }

  async exists(sha256: string): Promise<boolean> {
    try {
      return (await Deno.stat(this.pathOf(sha256))).isFile;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return false;
      throw err;
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Creates the tree once, and sweeps temp files a crash left behind. */
  #init(): Promise<void> {
    return this.#ready ??= (async () => {
      await Deno.mkdir(this.#tmp, { recursive: true });
      const cutoff = Date.now() - STALE_TEMP_MS;
      for await (const entry of Deno.readDir(this.#tmp)) {
        const path = join(this.#tmp, entry.name);
        const stat = await Deno.stat(path).catch(() => undefined);
        if (stat?.mtime && stat.mtime.getTime() < cutoff) {
          await Deno.remove(path).catch(() => {});
        }
      }
    })().catch((err) => {
      this.#ready = undefined;
      throw err;
    });
  }
}
