/**
 * The Sherman-Morrison-Woodbury coefficients of FNGD:
 * `c = (K / lambda + M I)^-1 1` with `lambda = alpha * ||K||_F / M`, so that
 * `U c = lambda (F + lambda I)^-1 gbar` is the natural-gradient direction.
 */
import { choleskySolve, choleskyWithJitter, frobeniusNorm } from "./linalg.ts";
import { EngineError } from "./types.ts";

/** Coefficients of one (batch, layer), with how they were obtained. */
export interface SmwSolution {
  coefficients: Float32Array;
  /** The lambda actually used. */
  lambda: number;
  /** Diagonal jitter added to the system (0 when none was needed). */
  jitter: number;
  retries: number;
}

/**
 * Solves for the per-sample weights of one layer from its M x M Gram matrix.
 * @throws {EngineError} `non_finite_coefficients` when K or c is not finite.
 */
export function solveSmwCoefficients(
  gram: ArrayLike<number>,
  m: number,
  alpha: number,
): SmwSolution {
  const norm = frobeniusNorm(gram);
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
    };
  }
  const lambda = (alpha * norm) / m;
  const system = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j <= i; j++) {
      // Symmetrise: float32 Gram matrices from the backend can differ in the last bit.
      const v = 0.5 * (gram[i * m + j] + gram[j * m + i]) / lambda;
      system[i * m + j] = v;
      system[j * m + i] = v;
    }
    system[i * m + i] += m;
  }
  const { factor, jitter, retries } = choleskyWithJitter(system, m);
  const c = choleskySolve(factor, m, new Float64Array(m).fill(1));
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
  return { coefficients, lambda, jitter, retries };
}
