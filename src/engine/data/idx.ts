/**
 * IDX files (the MNIST container format): parsing, optional gzip, and turning
 * image and label files into a {@link Dataset}.
 */
import { type Dataset, EngineError } from "../types.ts";

/** Any element array an IDX file can hold. */
export type IdxData =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Int32Array
  | Float32Array
  | Float64Array;

/** A parsed IDX file: its dimensions and its elements in row-major order. */
export interface IdxArray {
  dims: number[];
  data: IdxData;
}

/** Options for {@link parseIdx}. */
export interface ParseIdxOptions {
  /** Refuse to inflate gzip beyond this many bytes (a guard against gzip bombs); default 1 GiB. */
  maxBytes?: number;
}

/** Options for {@link idxToDataset}. */
export interface IdxToDatasetOptions {
  /** Keep only the first N training samples; the test split is never cut. */
  limit?: number;
}

interface IdxType {
  name: string;
  size: number;
  read: (view: DataView, offset: number, count: number) => IdxData;
}

// IDX stores elements big-endian, so each type is read through a DataView
// rather than by aliasing the buffer (which would assume the host's order).
const IDX_TYPES: Record<number, IdxType> = {
  0x08: {
    name: "unsigned byte",
    size: 1,
    read: (v, o, n) => new Uint8Array(v.buffer, v.byteOffset + o, n).slice(),
  },
  0x09: {
    name: "signed byte",
    size: 1,
    read: (v, o, n) => new Int8Array(v.buffer, v.byteOffset + o, n).slice(),
  },
  0x0b: {
    name: "short",
    size: 2,
    read: (v, o, n) =>
      readEach(new Int16Array(n), (i) => v.getInt16(o + 2 * i)),
  },
  0x0c: {
    name: "int",
    size: 4,
    read: (v, o, n) =>
      readEach(new Int32Array(n), (i) => v.getInt32(o + 4 * i)),
  },
  0x0d: {
    name: "float",
    size: 4,
    read: (v, o, n) =>
      readEach(new Float32Array(n), (i) => v.getFloat32(o + 4 * i)),
  },
  0x0e: {
    name: "double",
    size: 8,
    read: (v, o, n) =>
      readEach(new Float64Array(n), (i) => v.getFloat64(o + 8 * i)),
  },
};

const DEFAULT_MAX_BYTES = 2 ** 30;

function readEach<T extends IdxData>(out: T, get: (i: number) => number): T {
  for (let i = 0; i < out.length; i++) out[i] = get(i);
  return out;
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ");
}

function invalid(message: string, cause?: unknown): EngineError {
  return new EngineError(
    "invalid_data",
    message,
    cause ? { cause } : undefined,
  );
}

/** True when `bytes` start with the gzip magic number 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Inflates a gzip stream with the web-standard DecompressionStream.
 * @throws {EngineError} `invalid_data` when the stream is corrupt or inflates past `maxBytes`.
 */
export async function gunzip(
  bytes: Uint8Array,
  maxBytes = DEFAULT_MAX_BYTES,
): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream("gzip"));
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > maxBytes) {
        await reader.cancel();
        throw invalid(
          `gzip data inflates past the limit of ${maxBytes} bytes`,
        );
      }
      chunks.push(value);
    }
  } catch (e) {
    if (e instanceof EngineError) throw e;
    throw invalid(
      `corrupt gzip data (${bytes.length} compressed bytes): ${
        (e as Error).message
      }`,
      e,
    );
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** What an IDX header declares: element type and dimensions. */
export interface IdxHeader {
  type: { name: string; size: number };
  dims: number[];
}

/**
 * Parses the header at the start of `bytes` (4 + 4 * ndims bytes), for
 * readers that see a file piece by piece.
 * @throws {EngineError} `invalid_data` on a short or corrupt header.
 */
export function parseIdxHeader(bytes: Uint8Array): IdxHeader {
  return parseHeader(bytes);
}

/**
 * Checks that an IDX body of `found` bytes holds exactly what the header
 * declares.
 * @throws {EngineError} `invalid_data` naming the shortfall or the excess.
 */
export function checkIdxBodyLength(header: IdxHeader, found: number): void {
  const { type, dims } = header;
  const expected = dims.reduce((a, b) => a * b, 1) * type.size;
  if (found !== expected) {
    const what = found < expected
      ? "truncated IDX data"
      : "trailing bytes after IDX data";
    throw invalid(
      `${what}: dims [${
        dims.join(", ")
      }] of ${type.name} (${type.size} bytes each) need ${expected} bytes, found ${found}`,
    );
  }
}

function parseHeader(bytes: Uint8Array): { type: IdxType; dims: number[] } {
  if (bytes.length < 4) {
    throw invalid(
      `truncated IDX header: expected at least 4 bytes, found ${bytes.length}`,
    );
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw invalid(
      `bad IDX magic: expected 00 00 <type> <ndims>, found ${
        hex(bytes.subarray(0, 4))
      }`,
    );
  }
  const type = IDX_TYPES[bytes[2]];
  if (!type) {
    throw invalid(
      `unsupported IDX element type 0x${
        bytes[2].toString(16).padStart(2, "0")
      }: expected one of 08, 09, 0b, 0c, 0d, 0e`,
    );
  }
  const ndims = bytes[3];
  if (ndims === 0) throw invalid("IDX header declares 0 dimensions");
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw invalid(
      `truncated IDX header: ${ndims} dimensions need ${headerBytes} bytes, found ${bytes.length}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) {
    const d = view.getInt32(4 + 4 * i);
    if (d < 0) throw invalid(`IDX dimension ${i} is negative: ${d}`);
    dims.push(d);
  }
  return { type, dims };
}

/**
 * Parses an IDX file, inflating it first when it is gzipped.
 * @throws {EngineError} `invalid_data` on corrupt gzip, bad magic, an unknown
 * type, or a body whose length disagrees with the declared dimensions.
 */
export async function parseIdx(
  bytes: Uint8Array,
  options: ParseIdxOptions = {},
): Promise<IdxArray> {
  const raw = isGzip(bytes) ? await gunzip(bytes, options.maxBytes) : bytes;
  const { type, dims } = parseHeader(raw);
  const offset = 4 + 4 * dims.length;
  const count = dims.reduce((a, b) => a * b, 1);
  checkIdxBodyLength({ type, dims }, raw.length - offset);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  return { dims, data: type.read(view, offset, count) };
}

/**
 * Parses uncompressed IDX files stored back to back (how uploads keep
 * images, labels and optional test files in one column).
 * @throws {EngineError} `invalid_data` when a header is corrupt or a file runs past the end.
 */
export function parseIdxSequence(bytes: Uint8Array): IdxArray[] {
  const files: IdxArray[] = [];
  let at = 0;
  while (at < bytes.length) {
    const rest = bytes.subarray(at);
    const { type, dims } = parseHeader(rest);
    const offset = 4 + 4 * dims.length;
    const count = dims.reduce((a, b) => a * b, 1);
    const end = offset + count * type.size;
    if (end > rest.length) {
      throw invalid(
        `IDX file ${
          files.length + 1
        } in the sequence needs ${end} bytes, found ${rest.length}`,
      );
    }
    const view = new DataView(rest.buffer, rest.byteOffset, end);
    files.push({ dims, data: type.read(view, offset, count) });
    at += end;
  }
  return files;
}

/** Scales images to [0, 1]: bytes by 255, other types by the training set's range. */
function imageScaler(train: IdxArray): (v: number) => number {
  // Bytes use the fixed 0..255 range so that train and test scale alike
  // whatever they contain; other types have no natural range, so use the data's.
  if (train.data instanceof Uint8Array) return (v) => v / 255;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of train.data) {
    if (!Number.isFinite(v)) {
      throw invalid(`image values must be finite, found ${v}`);
    }
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const span = hi > lo ? hi - lo : 1;
  return (v) => (v - lo) / span;
}

function sampleShapeOf(images: IdxArray, what: string): number[] {
  const rest = images.dims.slice(1);
  if (rest.length === 0 || rest.length > 3) {
    throw invalid(
      `${what} must have 2 to 4 dimensions (samples first), found [${
        images.dims.join(", ")
      }]`,
    );
  }
  // A 3-D file is a stack of greyscale images: give it the channel axis conv layers expect.
  return rest.length === 2 ? [...rest, 1] : rest;
}

function checkLabels(labels: IdxArray, images: IdxArray, what: string): void {
  if (labels.dims.length !== 1) {
    throw invalid(
      `${what} labels must be 1-D, found dims [${labels.dims.join(", ")}]`,
    );
  }
  if (labels.dims[0] !== images.dims[0]) {
    throw invalid(
      `${what} images and labels disagree: ${images.dims[0]} images but ${
        labels.dims[0]
      } labels`,
    );
  }
  for (let i = 0; i < labels.data.length; i++) {
    const v = labels.data[i];
    if (!Number.isInteger(v) || v < 0 || v > 2 ** 31 - 1) {
      throw invalid(
        `${what} label ${i} must be a non-negative integer, found ${v}`,
      );
    }
  }
}

function toFloat(
  images: IdxArray,
  scale: (v: number) => number,
  count: number,
): Float32Array {
  const n = (images.data.length / images.dims[0]) * count;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = scale(images.data[i]);
  return x;
}

function maxLabel(...arrays: Iterable<number>[]): number {
  let m = 0;
  for (const a of arrays) for (const v of a) if (v > m) m = v;
  return m;
}

/**
 * Builds a dataset from parsed IDX image and label files, images scaled to [0, 1].
 * @throws {EngineError} `invalid_data` when shapes or counts disagree, labels
 * are not 1-D non-negative integers, or only one test file is given;
 * `invalid_spec` when `limit` is not a positive integer.
 */
export function idxToDataset(
  images: IdxArray,
  labels: IdxArray,
  testImages?: IdxArray,
  testLabels?: IdxArray,
  options: IdxToDatasetOptions = {},
): Dataset {
  const sampleShape = sampleShapeOf(images, "training images");
  checkLabels(labels, images, "training");
  if (images.dims[0] === 0) throw invalid("training images hold 0 samples");
  if ((testImages === undefined) !== (testLabels === undefined)) {
    throw invalid(
      `test images and test labels come together, found only ${
        testImages ? "images" : "labels"
      }`,
    );
  }
  if (
    options.limit !== undefined &&
    !(Number.isInteger(options.limit) && options.limit >= 1)
  ) {
    throw new EngineError(
      "invalid_spec",
      `limit must be a positive integer, got ${options.limit}`,
    );
  }
  const scale = imageScaler(images);
  const count = Math.min(images.dims[0], options.limit ?? Infinity);
  const dataset: Dataset = {
    x: toFloat(images, scale, count),
    y: Int32Array.from(labels.data.subarray(0, count)),
    sampleShape,
    classes: Math.max(2, maxLabel(labels.data, testLabels?.data ?? []) + 1),
  };
  if (testImages && testLabels) {
    const testShape = sampleShapeOf(testImages, "test images");
    if (testShape.join("x") !== sampleShape.join("x")) {
      throw invalid(
        `test images are ${testShape.join("x")} but training images are ${
          sampleShape.join("x")
        }`,
      );
    }
    checkLabels(testLabels, testImages, "test");
    dataset.test = {
      x: toFloat(testImages, scale, testImages.dims[0]),
      y: Int32Array.from(testLabels.data),
    };
  }
  return dataset;
}
