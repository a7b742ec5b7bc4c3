/**
 * The choice between the two conv Gram formulas, by flop count and a memory
 * cap. Pure arithmetic: the Gram code and the cost estimate both call it.
 */

/** Which Gram formula a conv layer uses; both give the same K. */
export type ConvGramMethod = "per_sample" | "pairwise";

/**
 * Picks the cheaper conv Gram formula by flop count: per-sample gradients
 * cost `M T k u + M^2 k u`, pairwise position products `(M T)^2 (k + u)`.
 */
export function chooseConvGramMethod(
  m: number,
  positions: number,
  fanIn: number,
  units: number,
): ConvGramMethod {
  const perSample = m * positions * fanIn * units + m * m * (fanIn + 1) * units;
  const pairwise = (m * positions) ** 2 * (fanIn + 1 + units);
  // The pairwise form materialises (M T)^2 values; cap it to keep memory bounded.
  return pairwise < perSample && (m * positions) ** 2 <= 4_000_000
    ? "pairwise"
    : "per_sample";
}
