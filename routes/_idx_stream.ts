/**
 * Checks one IDX file as its bytes stream past, holding only its header and
 * a partial element: the header (with the engine's parser), the body length
 * against the declared dimensions, and the elements a dataset cares about
 * (labels must be non-negative integers; float images must be finite).
 */
import {
  checkIdxBodyLength,
  type IdxHeader,
  parseIdxHeader,
} from "../src/engine/data/mod.ts";
import { EngineError } from "../src/engine/types.ts";

/** What a streamed IDX file declared and held. */
export interface IdxSummary {
  header: IdxHeader;
  /** IDX element type code (0x08 unsigned byte ... 0x0e double). */
  typeCode: number;
  /** Largest element seen, for label files; 0 when empty or not checked. */
  maxValue: number;
}

/** What a file holds, which decides its element checks. */
export type IdxRole =
  | { kind: "labels"; split: "training" | "test" }
  | { kind: "images" };

/** Big-endian element readers, by IDX type code. */
const READERS: Record<number, (v: DataView, at: number) => number> = {
  0x08: (v, at) => v.getUint8(at),
  0x09: (v, at) => v.getInt8(at),
  0x0b: (v, at) => v.getInt16(at),
  0x0c: (v, at) => v.getInt32(at),
  0x0d: (v, at) => v.getFloat32(at),
  0x0e: (v, at) => v.getFloat64(at),
};

const FLOAT_TYPES = new Set([0x0d, 0x0e]);

function invalid(message: string): EngineError {
  return new EngineError("invalid_data", message);
}

/** Feed it the file's bytes in order, then call {@link end}. */
export class IdxStreamCheck {
  #head = new Uint8Array(0);
  #header?: IdxHeader;
  #typeCode = 0;
  #read?: (v: DataView, at: number) => number;
  #check?: (value: number, index: number) => void;
  #expected = 0;
  #body = 0;
  /** Bytes of an element split across chunks. */
  #carry = new Uint8Array(8);
  #carried = 0;
  #elements = 0;
  #max = 0;

  constructor(private readonly role: IdxRole) {}

  /**
   * Takes the next chunk.
   * @throws {EngineError} `invalid_data` as soon as something is wrong.
   */
  push(chunk: Uint8Array): void {
    if (!this.#header) {
      chunk = this.#takeHeader(chunk);
      if (!this.#header) return;
    }
    const start = this.#body;
    this.#body += chunk.length;
    if (!this.#check || start >= this.#expected) return;
    this.#checkElements(
      chunk.subarray(0, Math.min(chunk.length, this.#expected - start)),
    );
  }

  /**
   * The summary, once the file has ended.
   * @throws {EngineError} `invalid_data` for a short header or a body whose
   * length disagrees with the header.
   */
  end(): IdxSummary {
    // A header that never completed: the engine's parser words why.
    const header = this.#header ?? parseIdxHeader(this.#head);
    checkIdxBodyLength(header, this.#body);
    return { header, typeCode: this.#typeCode, maxValue: this.#max };
  }

  /** Buffers header bytes; returns the rest of `chunk` once it is whole. */
  #takeHeader(chunk: Uint8Array): Uint8Array {
    let rest = chunk;
    for (;;) {
      // 4 bytes say how many dimensions, and so how long the header is.
      const have = this.#head.length;
      const need = have >= 4 ? 4 + 4 * this.#head[3] : 4;
      const take = Math.min(rest.length, need - have);
      if (take > 0) {
        const head = new Uint8Array(have + take);
        head.set(this.#head);
        head.set(rest.subarray(0, take), have);
        this.#head = head;
        rest = rest.subarray(take);
      }
      if (this.#head.length < need) return rest;
      if (need > 4 || this.#head[3] === 0) break;
    }
    const head = this.#head;
    this.#header = parseIdxHeader(head);
    this.#typeCode = head[2];
    this.#read = READERS[this.#typeCode];
    const { dims, type } = this.#header;
    this.#expected = dims.reduce((a, b) => a * b, 1) * type.size;
    if (this.role.kind === "labels") {
      const what = this.role.split;
      this.#check = (v, i) => {
        if (!Number.isInteger(v) || v < 0 || v > 2 ** 31 - 1) {
          throw invalid(
            `${what} label ${i} must be a non-negative integer, found ${v}`,
          );
        }
        if (v > this.#max) this.#max = v;
      };
    } else if (FLOAT_TYPES.has(this.#typeCode)) {
      this.#check = (v) => {
        if (!Number.isFinite(v)) {
          throw invalid(`image values must be finite, found ${v}`);
        }
      };
    }
    return rest;
  }

  #checkElements(bytes: Uint8Array): void {
    const size = this.#header!.type.size;
    const read = this.#read!;
    const check = this.#check!;
    let at = 0;
    if (this.#carried > 0) {
      const take = Math.min(size - this.#carried, bytes.length);
      this.#carry.set(bytes.subarray(0, take), this.#carried);
      this.#carried += take;
      at = take;
      if (this.#carried < size) return;
      check(read(new DataView(this.#carry.buffer), 0), this.#elements++);
      this.#carried = 0;
    }
    const whole = Math.floor((bytes.length - at) / size);
    const view = new DataView(
      bytes.buffer,
      bytes.byteOffset + at,
      whole * size,
    );
    for (let i = 0; i < whole; i++) {
      check(read(view, i * size), this.#elements++);
    }
    at += whole * size;
    if (at < bytes.length) {
      this.#carry.set(bytes.subarray(at));
      this.#carried = bytes.length - at;
    }
  }
}
