/**
 * `X Y^T` of float32 rows on the host, by the WebAssembly SIMD kernel in
 * assembly/row_products.ts. On wasm, the engine's Gram matrices come from
 * here rather than from tfjs-wasm's matMul, whose XNNPACK path repacks every
 * fresh right-hand side and needs `A^T` materialised first: at M = 128, a
 * 128 x 784 `A A^T` took 3.4 ms there and 1.4 ms here (host copies
 * included), and the symmetric case computes only half the blocks.
 *
 * One kernel instance per thread (shard workers have their own), with its
 * memory grown to the largest call so far. Products accumulate in float32,
 * four lanes at a time, like the backend's.
 */
import { decodeBase64 } from "./base64.ts";
import { ROW_PRODUCTS_WASM } from "./row_products_wasm.ts";

type Run = (
  x: number,
  m: number,
  y: number,
  n: number,
  k: number,
  c: number,
  symmetric: number,
) => void;

interface Kernel {
  memory: WebAssembly.Memory;
  run: Run;
}

/** Loaded on first use; null where WebAssembly SIMD is unavailable. */
let kernel: Kernel | null | undefined;

function load(): Kernel | null {
  if (kernel !== undefined) return kernel;
  try {
    // Under 1 KiB: synchronous compilation is allowed everywhere.
    const module = new WebAssembly.Module(
      decodeBase64(ROW_PRODUCTS_WASM) as Uint8Array<ArrayBuffer>,
    );
    const { exports } = new WebAssembly.Instance(module, {});
    kernel = {
      memory: exports.memory as WebAssembly.Memory,
      run: exports.rowProducts as Run,
    };
  } catch {
    kernel = null;
  }
  return kernel;
}

/** Whether the kernel runs here (WebAssembly with SIMD). */
export function hostRowProductsAvailable(): boolean {
  return load() !== null;
}

const PAGE = 65536;

function roundUp(v: number, to: number): number {
  return Math.ceil(v / to) * to;
}

/** Copies `rows` x `k` row-major values into `dst` with row stride `kp`, zeroing the padding. */
function padRows(
  dst: Float32Array,
  src: Float32Array,
  rows: number,
  k: number,
  kp: number,
): void {
  if (k === kp) {
    dst.set(src.subarray(0, rows * k));
    dst.fill(0, rows * k);
    return;
  }
  dst.fill(0);
  for (let i = 0; i < rows; i++) {
    dst.set(src.subarray(i * k, (i + 1) * k), i * kp);
  }
}

/**
 * `X Y^T` (m x n, row-major) for X = `x` (m x k) and Y = `y` (n x k), or
 * `X X^T` when `y` is omitted (computing half the blocks).
 * @throws {Error} when the kernel is unavailable (check
 * {@link hostRowProductsAvailable}) or a length does not match its shape.
 */
export function rowProducts(
  x: Float32Array,
  m: number,
  k: number,
  y?: { rows: Float32Array; n: number },
): Float32Array {
  const kern = load();
  if (!kern) throw new Error("the row-products kernel needs WebAssembly SIMD");
  const n = y ? y.n : m;
  if (x.length < m * k || (y && y.rows.length < n * k)) {
    throw new Error(
      `rowProducts: inputs shorter than ${m} x ${k}, ${n} x ${k}`,
    );
  }
  const kp = roundUp(Math.max(k, 1), 4);
  const mp = roundUp(Math.max(m, 1), 4);
  const np = y ? roundUp(Math.max(n, 1), 4) : mp;
  const xBytes = mp * kp * 4;
  const yBytes = y ? np * kp * 4 : 0;
  const need = xBytes + yBytes + mp * np * 4;
  const have = kern.memory.buffer.byteLength;
  if (need > have) kern.memory.grow(Math.ceil((need - have) / PAGE));
  const buf = kern.memory.buffer;
  padRows(new Float32Array(buf, 0, mp * kp), x, m, k, kp);
  if (y) padRows(new Float32Array(buf, xBytes, np * kp), y.rows, n, k, kp);
  const cOffset = xBytes + yBytes;
  kern.run(0, mp, y ? xBytes : 0, np, kp, cOffset, y ? 0 : 1);
  const c = new Float32Array(buf, cOffset, mp * np);
  if (np === n && mp === m) return c.slice();
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    out.set(c.subarray(i * np, i * np + n), i * n);
  }
  return out;
}
