/**
 * Checkpoint (de)serialisation: a length-prefixed JSON header followed by
 * little-endian float32 payloads. Weights and optimizer state are separate
 * blobs, matching the `checkpoints` table's two bytea columns.
 */
import { type Checkpoint, EngineError, type NamedArray } from "./types.ts";

const MAGIC = "FNGDCKPT1";

interface Header {
  magic: string;
  meta: unknown;
  arrays: { name: string; shape: number[]; length: number }[];
}

/** Packs named float32 arrays and a JSON `meta` into one byte string. */
export function encodeArrays(
  arrays: Record<string, NamedArray>,
  meta: unknown = null,
): Uint8Array {
  const entries = Object.entries(arrays);
  const header: Header = {
    magic: MAGIC,
    meta,
    arrays: entries.map(([name, a]) => ({
      name,
      shape: a.shape,
      length: a.data.length,
    })),
  };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  // Pad the header so the float32 payload starts 4-byte aligned.
  const headerLen = Math.ceil(headerBytes.length / 4) * 4;
  const payload = entries.reduce((n, [, a]) => n + a.data.length * 4, 0);
  const out = new Uint8Array(4 + headerLen + payload);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLen, true);
  out.set(headerBytes, 4);
  out.fill(0x20, 4 + headerBytes.length, 4 + headerLen);
  let offset = 4 + headerLen;
  for (const [, a] of entries) {
    for (let i = 0; i < a.data.length; i++) {
      view.setFloat32(offset + i * 4, a.data[i], true);
    }
    offset += a.data.length * 4;
  }
  return out;
}

/**
 * Inverse of `encodeArrays`.
 * @throws {EngineError} `invalid_checkpoint` for anything that is not a whole checkpoint blob.
 */
export function decodeArrays(
  bytes: Uint8Array,
): { arrays: Record<string, NamedArray>; meta: unknown } {
  const fail = (why: string): never => {
    throw new EngineError(
      "invalid_checkpoint",
      `checkpoint blob is corrupt: ${why}`,
    );
  };
  if (bytes.length < 4) fail(`${bytes.length} bytes is too short`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = view.getUint32(0, true);
  if (4 + headerLen > bytes.length) {
    fail(`header length ${headerLen} exceeds ${bytes.length} bytes`);
  }
  let header: Header;
  try {
    header = JSON.parse(
      new TextDecoder().decode(bytes.subarray(4, 4 + headerLen)),
    );
  } catch (err) {
    throw new EngineError(
      "invalid_checkpoint",
      "checkpoint header is not JSON",
      { cause: err },
    );
  }
  if (header.magic !== MAGIC) {
    fail(`expected magic ${MAGIC}, got ${header.magic}`);
  }
  const arrays: Record<string, NamedArray> = {};
  let offset = 4 + headerLen;
  for (const a of header.arrays) {
    const end = offset + a.length * 4;
    if (end > bytes.length) fail(`array ${a.name} runs past the end`);
    const data = new Float32Array(a.length);
    for (let i = 0; i < a.length; i++) {
      data[i] = view.getFloat32(offset + i * 4, true);
    }
    arrays[a.name] = { shape: a.shape, data };
    offset = end;
  }
  if (offset !== bytes.length) fail(`${bytes.length - offset} trailing bytes`);
  return { arrays, meta: header.meta };
}

/** Serialises a checkpoint into the table's two blobs. */
export function encodeCheckpoint(
  cp: Checkpoint,
): { weights: Uint8Array; optimizer_state: Uint8Array } {
  return {
    weights: encodeArrays(cp.weights),
    optimizer_state: encodeArrays(cp.optimizer_state, {
      epoch: cp.epoch,
      seed: cp.seed,
      counters: cp.counters,
      seconds_by_phase: cp.seconds_by_phase,
      scalars: cp.scalars,
      // Absent from old checkpoints and from non-sequence runs.
      ...(cp.vocabulary ? { vocabulary: cp.vocabulary } : {}),
    }),
  };
}

/**
 * Rebuilds a checkpoint from its two blobs.
 * @throws {EngineError} `invalid_checkpoint` when either blob is corrupt.
 */
export function decodeCheckpoint(
  weights: Uint8Array,
  optimizerState: Uint8Array,
): Checkpoint {
  const w = decodeArrays(weights);
  const o = decodeArrays(optimizerState);
  const meta = o.meta as Omit<Checkpoint, "weights" | "optimizer_state"> | null;
  if (!meta || typeof meta.epoch !== "number") {
    throw new EngineError(
      "invalid_checkpoint",
      "optimizer state blob has no epoch metadata",
    );
  }
  return { ...meta, weights: w.arrays, optimizer_state: o.arrays };
}
