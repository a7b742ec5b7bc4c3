/**
 * A minimal streaming ustar writer, gzipped: enough for a handful of regular
 * files of known size (a model's model.json and weights.bin). Hand-written
 * because the npm tar writers (tar-stream, tar) sit on Node streams; this is
 * a few lines over Web Streams and CompressionStream.
 */

/** One member: its name (under 100 bytes), size and content. */
export interface TarEntry {
  name: string;
  size: number;
  /** Opened only when the member is reached, so content streams lazily. */
  open: () => Promise<ReadableStream<Uint8Array>> | ReadableStream<Uint8Array>;
}

const BLOCK = 512;
const encoder = new TextEncoder();

/** Writes `value` as a NUL-terminated octal field of `width` bytes. */
function octal(buf: Uint8Array, offset: number, width: number, value: number) {
  const text = value.toString(8).padStart(width - 1, "0");
  buf.set(encoder.encode(text), offset);
  buf[offset + width - 1] = 0;
}

/** The 512-byte ustar header of a regular file. */
function header(name: string, size: number, mtime: number): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const nameBytes = encoder.encode(name);
  if (nameBytes.length > 100) throw new Error(`tar name too long: ${name}`);
  h.set(nameBytes, 0);
  octal(h, 100, 8, 0o644);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  // 11 octal digits hold sizes below 8 GiB, beyond any model served here.
  octal(h, 124, 12, size);
  octal(h, 136, 12, mtime);
  h.fill(0x20, 148, 156); // checksum computed with its field as spaces
  h[156] = 0x30; // "0": regular file
  h.set(encoder.encode("ustar\u000000"), 257);
  let sum = 0;
  for (const b of h) sum += b;
  octal(h, 148, 7, sum);
  h[155] = 0x20;
  return h;
}

/** The uncompressed tar of `entries`, streamed member by member. */
export function tarStream(
  entries: TarEntry[],
  mtime = Math.floor(Date.now() / 1000),
): ReadableStream<Uint8Array> {
  let index = 0;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let written = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!reader) {
        if (index === entries.length) {
          controller.enqueue(new Uint8Array(BLOCK * 2));
          controller.close();
          return;
        }
        const entry = entries[index];
        controller.enqueue(header(entry.name, entry.size, mtime));
        reader = (await entry.open()).getReader();
        written = 0;
        return;
      }
      const entry = entries[index];
      const { done, value } = await reader.read();
      if (!done) {
        written += value.length;
        if (written > entry.size) {
          throw new Error(
            `${entry.name} is longer than its ${entry.size} bytes`,
          );
        }
        controller.enqueue(value);
        return;
      }
      reader = undefined;
      if (written !== entry.size) {
        throw new Error(
          `${entry.name} ended after ${written} of ${entry.size} bytes`,
        );
      }
      const pad = (BLOCK - (entry.size % BLOCK)) % BLOCK;
      if (pad) controller.enqueue(new Uint8Array(pad));
      index++;
    },
    async cancel(reason) {
      await reader?.cancel(reason);
    },
  });
}

/** `tarStream(entries)` gzipped. */
export function tarGzStream(entries: TarEntry[]): ReadableStream<Uint8Array> {
  return tarStream(entries).pipeThrough(
    new CompressionStream("gzip") as unknown as TransformStream<
      Uint8Array,
      Uint8Array
    >,
  );
}
