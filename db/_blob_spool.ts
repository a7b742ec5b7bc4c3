/**
 * Writes a stream to a new file while hashing (SHA-256) and counting it:
 * the one pass both blob stores make, so content is never held whole in
 * memory.
 */
import { createHash } from "node:crypto";
import type { BlobRef } from "./blob_store.ts";

/**
 * Spools `content` into `path` (which must not exist) and flushes it to
 * disk, so a rename after this can never expose a partial file. On any
 * error the file is removed and the stream's own error rethrown.
 */
export async function spoolToFile(
  content: ReadableStream<Uint8Array>,
  path: string,
): Promise<BlobRef> {
  const hash = createHash("sha256");
  let size = 0;
  const file = await Deno.open(path, { write: true, createNew: true });
  try {
    const reader = content.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        hash.update(value);
        size += value.length;
        for (let at = 0; at < value.length;) {
          at += await file.write(value.subarray(at));
        }
      }
    } catch (err) {
      await reader.cancel(err).catch(() => {});
      throw err;
    } finally {
      reader.releaseLock();
    }
    await file.sync();
  } catch (err) {
    file.close();
    await Deno.remove(path).catch(() => {});
    throw err;
  }
  file.close();
  return { sha256: hash.digest("hex"), size };
}
