/**
 * bytea <-> Uint8Array, and float32 little-endian packing for coefficient
 * vectors. The packing is explicit so the bytes mean the same on any host.
 */
import { customType } from "drizzle-orm/pg-core";

/** A bytea column read and written as Uint8Array (postgres.js returns Buffers). */
export const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => "bytea",
  // A fresh, offset-0 copy: postgres.js may hand back a slice of a pooled Buffer.
  fromDriver: (value) => new Uint8Array(value),
});

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Float32 values as little-endian bytes. */
export function float32ToBytes(values: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) {
    return new Uint8Array(
      values.buffer.slice(
        values.byteOffset,
        values.byteOffset + values.byteLength,
      ),
    );
  }
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return out;
}

/**
 * Little-endian bytes as Float32 values.
 * @throws {RangeError} when the length is not a multiple of 4.
 */
export function bytesToFloat32(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 4 !== 0) {
    throw new RangeError(
      `float32 data must be a multiple of 4 bytes, got ${bytes.byteLength}`,
    );
  }
  if (LITTLE_ENDIAN) {
    return new Float32Array(
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Float32Array.from(
    { length: bytes.byteLength / 4 },
    (_, i) => view.getFloat32(i * 4, true),
  );
}
