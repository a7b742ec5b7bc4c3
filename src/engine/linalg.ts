/**
 * Float64 dense linear algebra on the host. TF.js has no linalg, and the
 * matrices here are small (M x M Gram matrices, K-FAC factors), so plain JS in
 * float64 is both exact enough and fast enough.
 */

/** Thrown when a matrix is not numerically positive definite. */
export class NotPositiveDefinite extends Error {
  constructor(readonly column: number) {
    super(`matrix is not positive definite (failed at column ${column})`);
    this.name = "NotPositiveDefinite";
  }
}

/**
 * `sum_{k<len} a[p+k] * a[q+k]`: row-major rows are contiguous, so this
 * streams memory; four accumulators let the JIT overlap the multiplies
 * (Cholesky of n = 128: 0.22 ms against 0.26 ms with one, measured).
 */
function dot(a: Float64Array, p: number, q: number, len: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let k = 0;
  for (; k + 3 < len; k += 4) {
    s0 += a[p + k] * a[q + k];
    s1 += a[p + k + 1] * a[q + k + 1];
    s2 += a[p + k + 2] * a[q + k + 2];
    s3 += a[p + k + 3] * a[q + k + 3];
  }
  for (; k < len; k++) s0 += a[p + k] * a[q + k];
  return (s0 + s1) + (s2 + s3);
}

/**
 * In-place lower Cholesky factor of the symmetric n x n row-major matrix `a`.
 * Only the lower triangle is read; the upper triangle is zeroed.
 * @throws {NotPositiveDefinite} when a pivot is not positive or not finite.
 */
export function choleskyInPlace(a: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) {
    const rowJ = j * n;
    const d = a[rowJ + j] - dot(a, rowJ, rowJ, j);
    if (!(d > 0) || !Number.isFinite(d)) throw new NotPositiveDefinite(j);
    const ljj = Math.sqrt(d);
    a[rowJ + j] = ljj;
    const inv = 1 / ljj;
    for (let i = j + 1; i < n; i++) {
      a[i * n + j] = (a[i * n + j] - dot(a, i * n, rowJ, j)) * inv;
    }
    for (let k = j + 1; k < n; k++) a[rowJ + k] = 0;
  }
}

/** Solves `L L^T x = b` given the lower factor `l`; returns a new vector. */
export function choleskySolve(
  l: Float64Array,
  n: number,
  b: Float64Array,
): Float64Array {
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    const row = i * n;
    for (let k = 0; k < i; k++) s -= l[row + k] * y[k];
    y[i] = s / l[row + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < n; k++) s -= l[k * n + i] * x[k];
    x[i] = s / l[i * n + i];
  }
  return x;
}

/** Inverse of an SPD matrix from its lower Cholesky factor: `A^-1 = L^-T L^-1`. */
export function choleskyInverse(l: Float64Array, n: number): Float64Array {
  // W = L^-1 (lower triangular), by forward substitution column by column.
  const w = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    w[j * n + j] = 1 / l[j * n + j];
    for (let i = j + 1; i < n; i++) {
      let s = 0;
      const row = i * n;
      for (let k = j; k < i; k++) s -= l[row + k] * w[k * n + j];
      w[row + j] = s / l[row + i];
    }
  }
  // A^-1 = W^T W; symmetric, so fill both halves from the lower computation.
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = i; k < n; k++) s += w[k * n + i] * w[k * n + j];
      inv[i * n + j] = s;
      inv[j * n + i] = s;
    }
  }
  return inv;
}

/** Outcome of a factorisation that may have needed jitter. */
export interface FactorResult {
  factor: Float64Array;
  /** Diagonal jitter that was added (0 when none was needed). */
  jitter: number;
  retries: number;
}

/**
 * Cholesky with escalating diagonal jitter: starts at `1e-10 * mean(diag)` and
 * grows 100x per retry. The caller reports `retries > 0` as an incident.
 * @throws {NotPositiveDefinite} when even the largest jitter fails (e.g. NaN input).
 */
export function choleskyWithJitter(
  a: Float64Array,
  n: number,
  maxRetries = 6,
): FactorResult {
  let meanDiag = 0;
  for (let i = 0; i < n; i++) meanDiag += Math.abs(a[i * n + i]);
  meanDiag = meanDiag / n || 1;
  let jitter = 0;
  for (let retry = 0;; retry++) {
    const work = a.slice();
    if (jitter > 0) { for (let i = 0; i < n; i++) work[i * n + i] += jitter; }
    try {
      choleskyInPlace(work, n);
      return { factor: work, jitter, retries: retry };
    } catch (err) {
      if (!(err instanceof NotPositiveDefinite) || retry >= maxRetries) {
        throw err;
      }
      jitter = jitter === 0 ? 1e-10 * meanDiag : jitter * 100;
    }
  }
}

/** Frobenius norm of a flat matrix. */
export function frobeniusNorm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/** Eigenvalues and unit eigenvectors of a symmetric matrix: row k of `vectors` belongs to `values[k]`. */
export interface SymmetricEigen {
  values: Float64Array;
  /** n x n row-major, one eigenvector per row. */
  vectors: Float64Array;
}

/**
 * Eigendecomposition of the symmetric n x n row-major matrix `a` (not
 * modified) by cyclic Jacobi rotations, until the off-diagonal mass is at
 * rounding level. Jacobi is short and stable, and its eigenvectors come
 * out orthonormal to rounding, which matters for the small eigenvalues
 * that inverse roots amplify. A sweep costs about 6 n^3 and convergence
 * takes 6 to 10 sweeps: 0.25 s at n = 257, 10 s at n = 785 (measured), so
 * it suits factors up to a few hundred wide.
 * @throws {Error} when `a` holds a non-finite value.
 */
export function symmetricEigen(
  a: Float64Array,
  n: number,
  maxSweeps = 60,
): SymmetricEigen {
  const m = new Float64Array(n * n);
  let norm2 = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const v = 0.5 * (a[i * n + j] + a[j * n + i]);
      if (!Number.isFinite(v)) {
        throw new Error(`symmetricEigen: non-finite entry at (${i}, ${j})`);
      }
      m[i * n + j] = v;
      norm2 += v * v;
    }
  }
  const w = new Float64Array(n * n);
  for (let i = 0; i < n; i++) w[i * n + i] = 1;
  // Converged once the off-diagonal mass is at rounding level of the whole.
  const tol = norm2 * 1e-30;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) off += m[p * n + q] ** 2;
    }
    if (off <= tol) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) rotate(m, w, n, p, q);
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = m[i * n + i];
  return { values, vectors: w };
}

/** One Jacobi rotation zeroing `m[p][q]`; `w`'s rows p and q rotate with it. */
function rotate(
  m: Float64Array,
  w: Float64Array,
  n: number,
  p: number,
  q: number,
): void {
  const apq = m[p * n + q];
  if (apq === 0) return;
  const app = m[p * n + p];
  const aqq = m[q * n + q];
  const theta = (aqq - app) / (2 * apq);
  // The smaller root of t^2 + 2 t theta - 1 = 0 keeps the rotation below 45 degrees.
  const t = (theta >= 0 ? 1 : -1) /
    (Math.abs(theta) + Math.sqrt(theta * theta + 1));
  const c = 1 / Math.sqrt(t * t + 1);
  const s = t * c;
  const rp = p * n;
  const rq = q * n;
  for (let k = 0; k < n; k++) {
    const mp = m[rp + k];
    const mq = m[rq + k];
    const np = c * mp - s * mq;
    const nq = s * mp + c * mq;
    m[rp + k] = np;
    m[rq + k] = nq;
    m[k * n + p] = np;
    m[k * n + q] = nq;
    const wp = w[rp + k];
    const wq = w[rq + k];
    w[rp + k] = c * wp - s * wq;
    w[rq + k] = s * wp + c * wq;
  }
  m[rp + p] = app - t * apq;
  m[rq + q] = aqq + t * apq;
  m[rp + q] = 0;
  m[rq + p] = 0;
}

/**
 * `(a + eps I)^(-1/p)` of a symmetric positive semi-definite matrix, by
 * eigendecomposition: eigenvalues are clamped at 0 first, so rounding
 * cannot make `lambda + eps` small or negative.
 */
export function inverseRoot(
  a: Float64Array,
  n: number,
  p: number,
  eps: number,
): Float64Array {
  const { values, vectors } = symmetricEigen(a, n);
  // u[i][k] = v_k[i] * sqrt(d_k), so the root is U U^T: contiguous row dots.
  const u = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const s = Math.sqrt((Math.max(values[k], 0) + eps) ** (-1 / p));
    for (let i = 0; i < n; i++) u[i * n + k] = vectors[k * n + i] * s;
  }
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v = dot(u, i * n, j * n, n);
      out[i * n + j] = v;
      out[j * n + i] = v;
    }
  }
  return out;
}
