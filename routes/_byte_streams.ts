/**
 * Small stream helpers for reading uploads from disk piece by piece: open a
 * file, sniff gzip, inflate within a byte and time budget, join streams,
 * and split bytes into lines.
 */
import { isGzip } from "../src/engine/data/mod.ts";
import { ApiError } from "./problem.ts";

/** A file's bytes as a stream (closed when read to the end or cancelled). */
export async function openFileStream(
  path: string,
): Promise<ReadableStream<Uint8Array>> {
  return (await Deno.open(path)).readable;
}

/** True when the file starts with the gzip magic number. */
export async function isGzipFile(path: string): Promise<boolean> {
  const file = await Deno.open(path);
  try {
    const head = new Uint8Array(2);
    const n = await file.read(head) ?? 0;
    return n === 2 && isGzip(head);
  } finally {
    file.close();
  }
}

/** Limits of {@link inflateBounded}. */
export interface InflateLimits {
  /** Most bytes the stream may inflate to. */
  maxBytes: number;
  /** Date.now() past which inflating stops. */
  deadline: number;
}

/**
 * Gunzips `compressed` as it is read, failing (400 `invalid_dataset`, named
 * by `field`) on corrupt data, past `maxBytes`, or past the deadline, so a
 * small bomb costs neither memory nor unbounded time.
 */
export function inflateBounded(
  compressed: ReadableStream<Uint8Array>,
  compressedBytes: number,
  field: string,
  limits: InflateLimits,
): ReadableStream<Uint8Array> {
  const gunzip = new DecompressionStream("gzip") as unknown as TransformStream<
    Uint8Array,
    Uint8Array
  >;
  const reader = compressed.pipeThrough(gunzip).getReader();
  let total = 0;
  const fail = async (message: string, cause?: unknown): Promise<never> => {
    await reader.cancel().catch(() => {});
    throw new ApiError("invalid_dataset", `${field}: ${message}`, { cause });
  };
  return new ReadableStream({
    async pull(controller) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (err) {
        return await fail(
          `corrupt gzip data (${compressedBytes} compressed bytes): ${
            (err as Error).message
          }`,
          err,
        );
      }
      if (next.done) {
        controller.close();
        return;
      }
      total += next.value.length;
      if (total > limits.maxBytes) {
        return await fail(
          `gzip data inflates past the limit of ${limits.maxBytes} bytes`,
        );
      }
      if (Date.now() > limits.deadline) {
        return await fail(
          "gzip data took too long to inflate; upload it uncompressed or smaller",
        );
      }
      controller.enqueue(next.value);
    },
    async cancel(reason) {
      await reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** The streams `parts` open, one after another, each opened when needed. */
export function concatStreams(
  parts: (() => Promise<ReadableStream<Uint8Array>>)[],
): ReadableStream<Uint8Array> {
  let next = 0;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream({
    async pull(controller) {
      for (;;) {
        if (!reader) {
          if (next >= parts.length) {
            controller.close();
            return;
          }
          reader = (await parts[next++]()).getReader();
        }
        const { done, value } = await reader.read();
        if (!done) {
          controller.enqueue(value);
          return;
        }
        reader = undefined;
      }
    },
    async cancel(reason) {
      await reader?.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/**
 * The bytes of each line, without its "\n" (a "\r" stays): like
 * `split("\n")`, so a final newline yields a last, empty line.
 */
export async function* byteLines(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  let partial: Uint8Array[] = [];
  const join = (last: Uint8Array): Uint8Array => {
    if (partial.length === 0) return last;
    const out = new Uint8Array(
      partial.reduce((n, p) => n + p.length, last.length),
    );
    let at = 0;
    for (const p of [...partial, last]) {
      out.set(p, at);
      at += p.length;
    }
    partial = [];
    return out;
  };
  for await (const chunk of stream) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      yield join(chunk.subarray(start, nl));
      start = nl + 1;
    }
    // Copied: the reader may reuse the chunk's buffer.
    if (start < chunk.length) partial.push(chunk.slice(start));
  }
  yield join(new Uint8Array(0));
}
