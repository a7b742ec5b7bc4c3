// AssemblyScript, compiled to WebAssembly by `deno task kernels` (src/kernels_gen.ts)
// into ../row_products_wasm.ts. Not TypeScript: deno fmt, lint and check skip
// this folder.
//
// C = X Y^T for row-major float32 X (m x k) and Y (n x k), C (m x n), as
// dot products of rows: Gram matrices need no transposed copy this way, and
// no operand is repacked per call (tfjs-wasm's XNNPACK matMul repacks every
// fresh right-hand side, which costs more than the products at M = 128).
// The caller pads: m and n to multiples of 4, k to a multiple of 4 (zero
// rows and columns change no product). With `symmetric` (X is Y), only the
// blocks on and below the diagonal are computed, and mirrored.

export function rowProducts(
  x: usize,
  m: i32,
  y: usize,
  n: i32,
  k: i32,
  c: usize,
  symmetric: bool,
): void {
  const rowBytes = <usize>k << 2;
  for (let i = 0; i < m; i += 2) {
    const x0 = x + <usize>i * rowBytes;
    const x1 = x0 + rowBytes;
    const jEnd = symmetric ? i + 2 : n;
    for (let j = 0; j < jEnd; j += 4) {
      const y0 = y + <usize>j * rowBytes;
      const y1 = y0 + rowBytes;
      const y2 = y1 + rowBytes;
      const y3 = y2 + rowBytes;
      // 2 x 4 accumulators and 6 loads fit the 16 SIMD registers.
      let s00 = f32x4.splat(0);
      let s01 = f32x4.splat(0);
      let s02 = f32x4.splat(0);
      let s03 = f32x4.splat(0);
      let s10 = f32x4.splat(0);
      let s11 = f32x4.splat(0);
      let s12 = f32x4.splat(0);
      let s13 = f32x4.splat(0);
      for (let p: usize = 0; p < rowBytes; p += 16) {
        const a0 = v128.load(x0 + p);
        const a1 = v128.load(x1 + p);
        const b0 = v128.load(y0 + p);
        const b1 = v128.load(y1 + p);
        const b2 = v128.load(y2 + p);
        const b3 = v128.load(y3 + p);
        s00 = f32x4.add(s00, f32x4.mul(a0, b0));
        s01 = f32x4.add(s01, f32x4.mul(a0, b1));
        s02 = f32x4.add(s02, f32x4.mul(a0, b2));
        s03 = f32x4.add(s03, f32x4.mul(a0, b3));
        s10 = f32x4.add(s10, f32x4.mul(a1, b0));
        s11 = f32x4.add(s11, f32x4.mul(a1, b1));
        s12 = f32x4.add(s12, f32x4.mul(a1, b2));
        s13 = f32x4.add(s13, f32x4.mul(a1, b3));
      }
      storeRow(c, n, i, j, s00, s01, s02, s03, symmetric);
      storeRow(c, n, i + 1, j, s10, s11, s12, s13, symmetric);
    }
  }
}

// @ts-ignore: decorator
@inline function lanesSum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) +
    f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

// @ts-ignore: decorator
@inline function storeRow(
  c: usize,
  n: i32,
  i: i32,
  j: i32,
  s0: v128,
  s1: v128,
  s2: v128,
  s3: v128,
  symmetric: bool,
): void {
  const v0 = lanesSum(s0);
  const v1 = lanesSum(s1);
  const v2 = lanesSum(s2);
  const v3 = lanesSum(s3);
  const row = c + (<usize>(i * n + j) << 2);
  store<f32>(row, v0);
  store<f32>(row, v1, 4);
  store<f32>(row, v2, 8);
  store<f32>(row, v3, 12);
  if (symmetric) {
    store<f32>(c + (<usize>(j * n + i) << 2), v0);
    store<f32>(c + (<usize>((j + 1) * n + i) << 2), v1);
    store<f32>(c + (<usize>((j + 2) * n + i) << 2), v2);
    store<f32>(c + (<usize>((j + 3) * n + i) << 2), v3);
  }
}
