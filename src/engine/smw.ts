/**
 * The Sherman-Morrison-Woodbury coefficients of FNGD:
 * `c = (K / lambda + M I)^-1 1` with `lambda = alpha * ||K||_F / M`, so that
 * `U c = lambda (F + lambda I)^-1 gbar` is the natural-gradient direction.
 */
import {
  choleskySolve,
  choleskyWithJitter,
  conjugateGradientSolve,
} from "./linalg.ts";
import { EngineError } from "./types.ts";

/** Coefficients of one (batch, layer), with how they were obtained. */
export interface SmwSolution {
  coefficients: Float32Array;
  /** The lambda actually used. */
  lambda: number;
  /** Diagonal jitter added to the system (0 when none was needed). */
  jitter: number;
  retries: number;
  /** How the system was solved (see {@link chooseSmwSolver}). */
  solver: SmwSolver;
}

/** Conjugate gradients, or a Cholesky factorization. */
export type SmwSolver = "cg" | "cholesky";

/**
 * The relative residual CG must reach. The system's condition number k is
 * small (see {@link cgIterationBound}), so the coefficients' relative error
 * is at most k times this, far below the float32 they are stored in.
 */
export const CG_TOLERANCE = 1e-10;

/**
 * CG iterations that guarantee {@link CG_TOLERANCE}. `||K||_2 <= ||K||_F =
 * M lambda / alpha`, so the system `K / lambda + M I` has its eigenvalues
 * in `[M, M (1 + 1/alpha)]` and condition number `k <= 1 + 1/alpha`; CG's
 * residual falls by `2 sqrt(k) ((sqrt k - 1) / (sqrt k + 1))^i` in i
 * iterations. At the default damping (alpha = 1, k <= 2): 15.
 */
export function cgIterationBound(alpha: number): number {
  const root = Math.sqrt(1 + 1 / alpha);
  const rate = Math.log((root + 1) / (root - 1));
  return Math.ceil(Math.log((2 * root) / CG_TOLERANCE) / rate);
}

/**
 * CG where its guaranteed iterations (one `M^2` product each) cost less
 * than a Cholesky factorization (`M^3 / 3`): at batch 128 with alpha = 1,
 * 15 products against about 43, and the factorization's square roots and
 * dependent loads besides. Small damping (alpha below about 0.2 at batch
 * 128) makes the bound too weak, and small batches make Cholesky cheap.
 */
export function chooseSmwSolver(m: number, alpha: number): SmwSolver {
  return 3 * cgIterationBound(alpha) < m ? "cg" : "cholesky";
}

/**
 * Solves for the per-sample weights of one layer from its M x M Gram matrix.
 * @throws {EngineError} `non_finite_coefficients` when K or c is not finite.
 */
export function solveSmwCoefficients(
  gram: Float32Array,
  m: number,
  alpha: number,
  solver: SmwSolver = chooseSmwSolver(m, alpha),
): SmwSolution {
  // One pass: the raw Gram's Frobenius norm, and its symmetric part
  // (float32 Gram matrices from the backend can differ in the last bit).
  const system = new Float64Array(m * m);
  let squares = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < i; j++) {
      const upper = gram[j * m + i];
      const lower = gram[i * m + j];
      squares += lower * lower + upper * upper;
      const v = 0.5 * (lower + upper);
      system[i * m + j] = v;
      system[j * m + i] = v;
    }
    const d = gram[i * m + i];
    squares += d * d;
    system[i * m + i] = d;
  }
  const norm = Math.sqrt(squares);
  if (!Number.isFinite(norm)) {
    throw new EngineError(
      "non_finite_coefficients",
      `the Gram matrix has non-finite entries (||K||_F = ${norm})`,
    );
  }
  if (norm === 0) {
    // All per-sample gradients vanish: the lambda -> infinity limit, plain SGD weights.
    return {
      coefficients: new Float32Array(m).fill(1 / m),
      lambda: 0,
      jitter: 0,
      retries: 0,
      solver,
    };
  }
  const lambda = (alpha * norm) / m;
  const scale = 1 / lambda;
  for (let i = 0; i < system.length; i++) system[i] *= scale;
  for (let i = 0; i < m; i++) system[i * m + i] += m;
  const ones = new Float64Array(m).fill(1);
  const iterative = solver === "cg"
    ? conjugateGradientSolve(
      system,
      m,
      ones,
      cgIterationBound(alpha) + 5,
      CG_TOLERANCE,
    )
    : undefined;
  const direct = iterative ? undefined : choleskyWithJitter(system, m);
  const c = iterative?.x ?? choleskySolve(direct!.factor, m, ones);
  const coefficients = new Float32Array(m);
  for (let i = 0; i < m; i++) {
    if (!Number.isFinite(c[i])) {
      throw new EngineError(
        "non_finite_coefficients",
        `coefficient ${i} of ${m} is ${c[i]}`,
      );
    }
    coefficients[i] = c[i];
  }
  return {
    coefficients,
    lambda,
    jitter: direct?.jitter ?? 0,
    retries: direct?.retries ?? 0,
    // A CG run that missed its target (rounding, or an indefinite K) fell back.
    solver: iterative ? "cg" : "cholesky",
  };
}
