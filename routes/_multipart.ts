/**
 * Reads a multipart/form-data request without holding it in memory: busboy
 * parses the body as it arrives, text fields are kept, and each file part is
 * written to its own file in a scratch directory, so the route can read the
 * files (maybe more than once) after every field is known.
 */
import busboy from "busboy";
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { HTTPException } from "hono/http-exception";
import { ApiError } from "./problem.ts";

/** A file part, written to disk. */
export interface SpooledFile {
  path: string;
  size: number;
  filename: string;
}

/** A parsed form: the last value of each field, text or file. */
export interface MultipartForm {
  fields: Map<string, string>;
  files: Map<string, SpooledFile>;
}

/** Options of {@link readMultipart}. */
export interface MultipartOptions {
  /** Largest body, in bytes: more is 413. */
  maxBytes: number;
  /** Scratch directory for file parts; the caller removes it. */
  dir: string;
  /** Fields whose file parts are kept; others are read and dropped. */
  fileFields: ReadonlySet<string>;
}

/** Text fields are short (a name, a shape); this bounds each. */
const MAX_FIELD_BYTES = 64 * 1024;
const MAX_PARTS = 64;

function tooLarge(maxBytes: number): ApiError {
  return new ApiError(
    "payload_too_large",
    `upload larger than ${maxBytes} bytes`,
  );
}

/** Counts the body as it passes and fails it past `maxBytes`. */
function capped(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
): ReadableStream<Uint8Array> {
  let seen = 0;
  return body.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        seen += chunk.length;
        if (seen > maxBytes) throw tooLarge(maxBytes);
        controller.enqueue(chunk);
      },
    }),
  );
}

/**
 * Errors of our own making (size, timeouts from middleware) keep their
 * status; the parser's own are the client's malformed body.
 */
function asRequestError(err: unknown, maxBytes: number): unknown {
  if (err instanceof ApiError || err instanceof HTTPException) return err;
  if ((err as Error)?.name === "BodyLimitError") return tooLarge(maxBytes);
  return new ApiError(
    "bad_request",
    `malformed multipart/form-data body: ${(err as Error)?.message ?? err}`,
    { cause: err },
  );
}

/**
 * Parses `req` as multipart/form-data.
 * @throws {ApiError} `unsupported_media_type` for another Content-Type,
 * `payload_too_large` past `maxBytes`, `bad_request` for a malformed body.
 */
export async function readMultipart(
  req: Request,
  opts: MultipartOptions,
): Promise<MultipartForm> {
  const contentType = req.headers.get("content-type") ?? "";
  if (!/^multipart\/form-data\s*;/i.test(contentType)) {
    throw new ApiError(
      "unsupported_media_type",
      "the request's Content-Type is not one this operation accepts; send multipart/form-data",
    );
  }
  const declared = Number(req.headers.get("content-length"));
  if (declared > opts.maxBytes) throw tooLarge(opts.maxBytes);
  if (!req.body) throw new ApiError("bad_request", "the upload has no body");
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { "content-type": contentType },
      limits: { fieldSize: MAX_FIELD_BYTES, parts: MAX_PARTS },
    });
  } catch (err) {
    throw asRequestError(err, opts.maxBytes);
  }
  const form: MultipartForm = { fields: new Map(), files: new Map() };
  const writes: Promise<void>[] = [];
  let failure: unknown;
  let part = 0;
  parser.on("field", (name, value, info) => {
    if (info.valueTruncated) {
      failure ??= new ApiError(
        "bad_request",
        `form field ${
          JSON.stringify(name)
        } is longer than ${MAX_FIELD_BYTES} bytes`,
      );
      return;
    }
    form.fields.set(name, value);
  });
  parser.on("file", (name, stream, info) => {
    if (!opts.fileFields.has(name)) {
      stream.resume();
      return;
    }
    const path = join(opts.dir, `${part++}.part`);
    const file: SpooledFile = { path, size: 0, filename: info.filename ?? "" };
    stream.on("data", (chunk: Uint8Array) => file.size += chunk.length);
    const written = pipeline(stream, createWriteStream(path)).then(() => {
      form.files.set(name, file);
    });
    // Observed here; the error itself surfaces from the parse below.
    written.catch(() => {});
    writes.push(written);
  });
  parser.on("partsLimit", () => {
    failure ??= new ApiError(
      "bad_request",
      `the upload has more than ${MAX_PARTS} parts`,
    );
  });
  const closed = new Promise<void>((resolve) => parser.on("close", resolve));
  try {
    await pipeline(
      Readable.fromWeb(
        capped(
          req.body,
          opts.maxBytes,
        ) as import("node:stream/web").ReadableStream,
      ),
      parser,
    );
    await closed;
    await Promise.all(writes);
  } catch (err) {
    await Promise.allSettled(writes);
    throw asRequestError(err, opts.maxBytes);
  }
  if (failure) throw failure;
  return form;
}
