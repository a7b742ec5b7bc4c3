/**
 * Float64 dense linear algebra on the host. TF.js has no linalg, and the
 * matrices here are small (M x M Gram matrices, K-FAC factors, Shampoo's
 * blocks), so plain JS in float64 is both exact enough and fast enough.
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

/**
 * Inverse of an SPD matrix from its lower Cholesky factor: `A^-1 = L^-T L^-1`.
 * Both halves are written as sums of scaled rows, so every inner loop runs
 * along contiguous memory: a column-wise substitution strides by n and was
 * about 4x slower at n = 785.
 */
export function choleskyInverse(l: Float64Array, n: number): Float64Array {
  // W = L^-1, row by row: W[i] = (e_i - sum_{k<i} L[i][k] W[k]) / L[i][i],
  // where row k of the lower triangular W is nonzero only in columns <= k.
  const w = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const row = i * n;
    for (let k = 0; k < i; k++) {
      const lik = l[row + k];
      if (lik === 0) continue;
      const rk = k * n;
      for (let j = 0; j <= k; j++) w[row + j] -= lik * w[rk + j];
    }
    const inv = 1 / l[row + i];
    w[row + i] = 1;
    for (let j = 0; j <= i; j++) w[row + j] *= inv;
  }
  // A^-1 = W^T W: entry (i, j) is the dot of columns i and j of W, which
  // are rows of W^T; column i is nonzero only from row i down.
  const wt = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) wt[j * n + i] = w[i * n + j];
  }
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v = dot(wt, i * n + i, j * n + i, n - i);
      out[i * n + j] = v;
      out[j * n + i] = v;
    }
  }
  return out;
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

/**
 * Conjugate gradients for the symmetric positive definite n x n row-major
 * `a`, from x = 0, until `||b - a x|| <= tolerance * ||b||` or
 * `maxIterations`. Each iteration is one matrix-vector product (n^2
 * multiply-adds) against Cholesky's n^3 / 3 in all, so it wins when the
 * system is well conditioned: with condition number k the error falls at
 * least by `(sqrt k - 1) / (sqrt k + 1)` per iteration. The residual is
 * recomputed from `a` at the end, so a result is never trusted on the
 * recurrence alone. Returns undefined when the target was not reached (or
 * a value went non-finite): the caller falls back to a direct solve.
 */
export function conjugateGradientSolve(
  a: Float64Array,
  n: number,
  b: Float64Array,
  maxIterations: number,
  tolerance: number,
): { x: Float64Array; iterations: number } | undefined {
  const x = new Float64Array(n);
  const r = b.slice();
  const p = b.slice();
  const q = new Float64Array(n);
  const bb = vectorDot(b, b);
  const stop = tolerance * tolerance * bb;
  let rr = bb;
  let iterations = 0;
  while (rr > stop && iterations < maxIterations) {
    matVec(a, n, p, q);
    const step = rr / vectorDot(p, q);
    for (let i = 0; i < n; i++) {
      x[i] += step * p[i];
      r[i] -= step * q[i];
    }
    const next = vectorDot(r, r);
    const beta = next / rr;
    for (let i = 0; i < n; i++) p[i] = r[i] + beta * p[i];
    rr = next;
    iterations++;
  }
  matVec(a, n, x, q);
  let residual = 0;
  for (let i = 0; i < n; i++) residual += (b[i] - q[i]) ** 2;
  // `!(<=)` also rejects NaN.
  if (!(residual <= stop)) return undefined;
  return { x, iterations };
}

/** `out = a v` for the n x n row-major `a`, row by row (contiguous). */
function matVec(
  a: Float64Array,
  n: number,
  v: Float64Array,
  out: Float64Array,
): void {
  for (let i = 0; i < n; i++) {
    const row = i * n;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    let k = 0;
    for (; k + 3 < n; k += 4) {
      s0 += a[row + k] * v[k];
      s1 += a[row + k + 1] * v[k + 1];
      s2 += a[row + k + 2] * v[k + 2];
      s3 += a[row + k + 3] * v[k + 3];
    }
    for (; k < n; k++) s0 += a[row + k] * v[k];
    out[i] = (s0 + s1) + (s2 + s3);
  }
}

function vectorDot(u: Float64Array, v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < u.length; i++) s += u[i] * v[i];
  return s;
}

/** Eigenvalues and unit eigenvectors of a symmetric matrix: row k of `vectors` belongs to `values[k]`. */
export interface SymmetricEigen {
  values: Float64Array;
  /** n x n row-major, one eigenvector per row. */
  vectors: Float64Array;
}

/**
 * Eigendecomposition of the symmetric n x n row-major matrix `a` (not
 * modified; its two triangles are averaged): Householder reduction to
 * tridiagonal form, then implicit QL with Wilkinson shifts, the rotations
 * accumulated into the eigenvectors. Both stages are orthogonal
 * transformations, so the eigenvectors come out orthonormal to rounding,
 * which matters for the small eigenvalues that inverse roots amplify. About
 * 9 n^3 flops (reduction 4/3 n^3, its orthogonal factor 4/3 n^3, QL about
 * n^2 rotations of 6 n each; fewer for rank-deficient input), against
 * 40-60 n^3 for cyclic Jacobi (6 to 10 sweeps of 6 n^3). A whole
 * `inverseRoot` measured 6 ms at n = 129, 46 ms at n = 257 and 1.4-2 s at
 * n = 785 (Jacobi: 31 ms, 0.39 s, 11-25 s; best of several runs on a
 * loaded 2-core machine). Eigenvalues come in no particular order.
 * @throws {Error} when `a` holds a non-finite value, or QL fails to converge.
 */
export function symmetricEigen(a: Float64Array, n: number): SymmetricEigen {
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v = 0.5 * (a[i * n + j] + a[j * n + i]);
      if (!Number.isFinite(v)) {
        throw new Error(`symmetricEigen: non-finite entry at (${i}, ${j})`);
      }
      m[i * n + j] = v;
    }
  }
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tridiagonalize(m, n, d, e);
  const w = reflectorsTransposed(m, n);
  tridiagonalQL(d, e, w, n);
  return { values: d, vectors: w };
}

/**
 * Householder reduction `Q^T A Q = T` of the lower triangle of `m`, in
 * place. Step k reflects rows and columns k+1.. so that column k below the
 * subdiagonal vanishes; only the lower triangle of the trailing block is
 * updated (symmetry halves the work), and the reflector `v` (with
 * `v[0] = 1`) is kept in row k's unused upper part, where later steps never
 * write, with its `tau` on the diagonal. `d` and `e` receive T's diagonal
 * and subdiagonal (`e[k]` couples k and k+1).
 */
function tridiagonalize(
  m: Float64Array,
  n: number,
  d: Float64Array,
  e: Float64Array,
): void {
  const p = new Float64Array(n);
  for (let k = 0; k < n - 1; k++) {
    const row = k * n;
    const base = row + k + 1;
    const len = n - k - 1;
    // Column k below the diagonal, copied into the row for contiguous access.
    let scale = 0;
    for (let i = 0; i < len; i++) {
      const x = m[(k + 1 + i) * n + k];
      m[base + i] = x;
      scale = Math.max(scale, Math.abs(x));
    }
    d[k] = m[row + k];
    const x0 = m[base];
    let tail = 0; // squared norm of x[1:], scaled against overflow
    if (scale > 0) {
      for (let i = 1; i < len; i++) tail += (m[base + i] / scale) ** 2;
    }
    if (tail === 0) {
      // Already reduced: H = I.
      e[k] = x0;
      m[row + k] = 0;
      continue;
    }
    const beta = -Math.sign(x0 || 1) * scale *
      Math.sqrt((x0 / scale) ** 2 + tail);
    const tau = (beta - x0) / beta;
    const inv = 1 / (x0 - beta);
    m[base] = 1;
    for (let i = 1; i < len; i++) m[base + i] *= inv;
    e[k] = beta;
    m[row + k] = tau;
    // p = tau A22 v from the lower triangle: row i contributes its
    // left-of-diagonal part to p[i] and, by symmetry, to p[j < i].
    p.fill(0, 0, len);
    for (let i = 0; i < len; i++) {
      const r = (k + 1 + i) * n + k + 1;
      const vi = m[base + i];
      let s = 0;
      for (let j = 0; j < i; j++) {
        const aij = m[r + j];
        s += aij * m[base + j];
        p[j] += aij * vi;
      }
      p[i] += s + m[r + i] * vi;
    }
    let pv = 0;
    for (let i = 0; i < len; i++) {
      p[i] *= tau;
      pv += p[i] * m[base + i];
    }
    // A22 <- H A22 H = A22 - v w^T - w v^T, with w = p - (tau p.v / 2) v.
    const half = 0.5 * tau * pv;
    for (let i = 0; i < len; i++) p[i] -= half * m[base + i];
    for (let i = 0; i < len; i++) {
      const r = (k + 1 + i) * n + k + 1;
      const vi = m[base + i];
      const wi = p[i];
      for (let j = 0; j <= i; j++) {
        m[r + j] -= vi * p[j] + wi * m[base + j];
      }
    }
  }
  d[n - 1] = m[(n - 1) * n + n - 1];
  e[n - 1] = 0;
}

/**
 * `Q^T` for `Q = H_0 H_1 ... H_{n-2}` from the reflectors `tridiagonalize`
 * left in `m`. Accumulated backwards, so reflector k only meets the trailing
 * block it can reach, and on the transpose, so each row takes its dot with
 * `v` and its update in one contiguous pass.
 */
function reflectorsTransposed(m: Float64Array, n: number): Float64Array {
  const w = new Float64Array(n * n);
  for (let i = 0; i < n; i++) w[i * n + i] = 1;
  for (let k = n - 2; k >= 0; k--) {
    const tau = m[k * n + k];
    if (tau === 0) continue;
    const base = k * n + k + 1;
    const len = n - k - 1;
    for (let j = k + 1; j < n; j++) {
      const r = j * n + k + 1;
      let s = 0;
      for (let i = 0; i < len; i++) s += w[r + i] * m[base + i];
      if (s === 0) continue;
      s *= tau;
      for (let i = 0; i < len; i++) w[r + i] -= s * m[base + i];
    }
  }
  return w;
}

/**
 * Implicit QL with Wilkinson shifts on the tridiagonal `d`, `e`: eigenvalues
 * into `d`. Every plane rotation of columns i, i+1 of the eigenvector matrix
 * is applied to rows i, i+1 of its transpose `w` (starting as `Q^T`), so
 * row k of `w` ends as the eigenvector of `d[k]`.
 */
function tridiagonalQL(
  d: Float64Array,
  e: Float64Array,
  w: Float64Array,
  n: number,
): void {
  // Couplings below rounding of the whole matrix are negligible. A test
  // relative to the neighbouring diagonal alone never passes inside a
  // cluster of zero eigenvalues (rank-deficient statistics), where d and e
  // are all rounding noise.
  let norm = 0;
  for (let i = 0; i < n; i++) {
    norm = Math.max(norm, Math.abs(d[i]) + Math.abs(e[i]));
  }
  const tiny = Number.EPSILON * norm;
  for (let l = 0; l < n; l++) {
    for (let iter = 0;; iter++) {
      // The first negligible coupling at or below l splits the matrix there.
      let m = l;
      while (m < n - 1 && Math.abs(e[m]) > tiny) m++;
      if (m === l) break;
      if (iter === 60) {
        throw new Error(`symmetricEigen: QL did not converge at ${l}`);
      }
      // Shift: the eigenvalue of the leading 2 x 2 block nearer d[l].
      let g = (d[l + 1] - d[l]) / (2 * e[l]);
      let r = Math.hypot(g, 1);
      g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r));
      let s = 1, c = 1, p = 0;
      let i = m - 1;
      for (; i >= l; i--) {
        const f = s * e[i];
        const b = c * e[i];
        r = Math.hypot(f, g);
        e[i + 1] = r;
        if (r === 0) {
          // Underflow: the block splits at i + 1; restart the search.
          d[i + 1] -= p;
          e[m] = 0;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1] - p;
        r = (d[i] - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
        const ri = i * n;
        const rj = ri + n;
        for (let k = 0; k < n; k++) {
          const wi = w[ri + k];
          const wj = w[rj + k];
          w[rj + k] = s * wi + c * wj;
          w[ri + k] = c * wi - s * wj;
        }
      }
      if (r === 0 && i >= l) continue;
      d[l] -= p;
      e[l] = g;
      e[m] = 0;
    }
  }
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
