/**
 * The host row-products kernel (src/engine/kernels/) against float64
 * products, the one-position Gram it serves against its float64 formula on
 * each backend that uses it, and the committed WebAssembly against a fresh
 * compile of its AssemblyScript source.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  hostRowProductsAvailable,
  rowProducts,
} from "../src/engine/kernels/row_products.ts";
import {
  gramMatrix,
  LINEAR_SITE_MATH,
} from "../src/engine/layers/linear_site.ts";
import { initBackend } from "../src/engine/mod.ts";
import { Rng } from "../src/engine/rng.ts";
import { compileKernel, kernelModule, KERNELS } from "../src/kernel_build.ts";

function randomRows(rows: number, k: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: rows * k }, () => rng.normal());
}

/**
 * Asserts `c` equals X Y^T computed in float64, entry by entry, within
 * float32 accumulation error: 1e-6 of `sum_p |x_ip y_jp|` (k <= 784 terms
 * at 6e-8 each stays well inside).
 */
function assertProducts(
  c: Float32Array,
  x: Float32Array,
  m: number,
  y: Float32Array,
  n: number,
  k: number,
): void {
  assert.equal(c.length, m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let exact = 0, scale = 0;
      for (let p = 0; p < k; p++) {
        exact += x[i * k + p] * y[j * k + p];
        scale += Math.abs(x[i * k + p] * y[j * k + p]);
      }
      const err = Math.abs(c[i * n + j] - exact);
      assert.ok(
        err <= 1e-6 * scale + 1e-30,
        `${m}x${n} (k ${k}) entry ${i},${j}: ${c[i * n + j]} vs ${exact}`,
      );
    }
  }
}

Deno.test("the row-products kernel loads here (WebAssembly SIMD)", () => {
  // A kernel that failed to load would silently send every Gram back to
  // the backend's matMul; this pins that it runs where the suite runs.
  assert.ok(hostRowProductsAvailable());
});

Deno.test("rowProducts matches float64 X X^T and X Y^T for every padding case", () => {
  // Shapes whose rows and widths are and are not multiples of the
  // kernel's blocks (4 rows, 4 floats), largest first so that smaller
  // calls reuse memory holding stale values in their padding.
  const shapes: [number, number, number][] = [
    [130, 784, 37],
    [128, 784, 64],
    [128, 10, 128],
    [7, 5, 3],
    [5, 3, 7],
    [4, 4, 4],
    [2, 1, 1],
    [1, 1, 1],
  ];
  for (const [m, k, n] of shapes) {
    const x = randomRows(m, k, m * 1000 + k);
    const y = randomRows(n, k, n * 1000 + k + 1);
    assertProducts(rowProducts(x, m, k), x, m, x, m, k);
    assertProducts(rowProducts(x, m, k, { rows: y, n }), x, m, y, n, k);
  }
});

Deno.test("rowProducts X X^T is exactly symmetric, its halves being one computation", () => {
  const m = 37, k = 29;
  const x = randomRows(m, k, 5);
  const c = rowProducts(x, m, k);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) assert.equal(c[i * m + j], c[j * m + i]);
  }
});

Deno.test("rowProducts rejects inputs shorter than their shapes", () => {
  assert.throws(() => rowProducts(new Float32Array(5), 2, 3), /shorter/);
  assert.throws(
    () =>
      rowProducts(new Float32Array(6), 2, 3, {
        rows: new Float32Array(2),
        n: 1,
      }),
    /shorter/,
  );
});

/** `(A A^T + 1) o (E E^T) M^2`, rows [lo, M) of columns [lo, hi), in float64. */
function gramReference(
  a: Float32Array,
  e: Float32Array,
  m: number,
  k: number,
  units: number,
  lo: number,
  hi: number,
): Float64Array {
  const n = hi - lo;
  const out = new Float64Array((m - lo) * n);
  for (let i = lo; i < m; i++) {
    for (let j = lo; j < hi; j++) {
      let aa = 1, ee = 0;
      for (let p = 0; p < k; p++) aa += a[i * k + p] * a[j * k + p];
      for (let p = 0; p < units; p++) ee += e[i * units + p] * e[j * units + p];
      out[(i - lo) * n + j - lo] = aa * ee * m * m;
    }
  }
  return out;
}

for (const backend of ["wasm", "cpu"] as const) {
  Deno.test(`one-position Gram on ${backend}, whole, and its lower strips from host rows, match their float64 formula`, async () => {
    await initBackend(backend);
    const m = 66, k = 131, units = 9;
    const a = randomRows(m, k, 11);
    const e = randomRows(m, units, 12);
    tf.tidy(() => {
      const cap = { inputs: tf.tensor2d(a, [m, k]), positions: 1 };
      const et = tf.tensor2d(e, [m, units]);
      for (const [lo, hi] of [[0, m], [0, 13], [13, 66], [40, 41]]) {
        const got = lo === 0 && hi === m
          ? gramMatrix(cap, et, m).dataSync()
          : LINEAR_SITE_MATH.gramStrip!(a, e, m, lo, hi);
        const ref = gramReference(a, e, m, k, units, lo, hi);
        // Entries near zero come from cancelling sums, so the error is
        // measured against the largest entry.
        let worst = 0, largest = 0;
        ref.forEach((r, i) => {
          worst = Math.max(worst, Math.abs(got[i] - r));
          largest = Math.max(largest, Math.abs(r));
        });
        assert.equal(got.length, ref.length);
        assert.ok(
          worst / largest < 1e-6,
          `${backend} strip ${lo}-${hi}: ${worst / largest}`,
        );
      }
    });
  });
}

Deno.test("the committed kernel modules are what their sources compile to", async () => {
  for (const k of KERNELS) {
    const fresh = kernelModule(
      k.source,
      k.constant,
      await compileKernel(k.source),
    );
    assert.equal(
      await Deno.readTextFile(k.module),
      fresh,
      `${k.module} is stale: run deno task kernels`,
    );
  }
});
