/**
 * Corpus BLEU (Papineni et al. 2002, "BLEU: a method for automatic evaluation
 * of machine translation"): the clipped n-gram precisions of the whole corpus
 * for n = 1 to 4, their geometric mean, and a brevity penalty over the
 * corpus. It scores token lists, so the tokenisation is the caller's choice;
 * {@link corpusBleuOfTexts} uses whitespace-separated words, the standard
 * practice (and what NLTK's examples and the paper use), whatever tokenizer
 * the model had: character-level BLEU would reward half-right words and is
 * not comparable with published scores. No smoothing: a corpus with no
 * matching n-gram of some order scores 0, as NLTK and sacreBLEU do unsmoothed.
 *
 * Written here because the one npm package (bleu-score 1.0.4) scores single
 * sentences only, keys n-grams on a plain object (so "constructor" matches
 * every reference), and has no tests.
 */

/** A corpus BLEU score and its parts. */
export interface BleuScore {
  /** BLEU in [0, 1] (sacreBLEU reports 100 times this). */
  bleu: number;
  /**
   * Clipped precision of each order n = 1..maxOrder: matched n-grams over
   * hypothesis n-grams, summed over the corpus; 0 when there are none.
   */
  precisions: number[];
  /** `exp(1 - r / c)` when the hypotheses are shorter than the references, else 1. */
  brevityPenalty: number;
  /** c: hypothesis tokens in the corpus. */
  hypothesisLength: number;
  /**
   * r: per sentence the length of the reference closest to the hypothesis
   * (the shorter one on a tie), summed: the paper's "best match length".
   */
  referenceLength: number;
}

/** Standard BLEU's maximum n-gram order. */
export const BLEU_MAX_ORDER = 4;

/** Cuts text into BLEU's tokens: words separated by whitespace. */
export function bleuTokens(text: string): string[] {
  return text.split(/\s+/).filter((t) => t !== "");
}

/** Counts of the n-grams of order `n`, keyed without ambiguity (length-prefixed tokens). */
function ngramCounts(
  tokens: readonly string[],
  n: number,
): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    let key = "";
    for (let k = i; k < i + n; k++) key += `${tokens[k].length}:${tokens[k]}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

function closestLength(references: readonly (readonly string[])[], c: number) {
  let best = Infinity;
  for (const ref of references) {
    const r = ref.length;
    const d = Math.abs(r - c);
    const bestD = Math.abs(best - c);
    if (d < bestD || (d === bestD && r < best)) best = r;
  }
  return best;
}

/**
 * Corpus BLEU of tokenised hypotheses, each against one or more references.
 * @throws {RangeError} when the counts differ, a hypothesis has no
 * reference, or `maxOrder` is not a positive integer.
 */
export function corpusBleu(
  hypotheses: readonly (readonly string[])[],
  references: readonly (readonly (readonly string[])[])[],
  maxOrder = BLEU_MAX_ORDER,
): BleuScore {
  if (hypotheses.length !== references.length) {
    throw new RangeError(
      `expected one reference list per hypothesis, got ${hypotheses.length} hypotheses and ${references.length} reference lists`,
    );
  }
  if (!(Number.isInteger(maxOrder) && maxOrder >= 1)) {
    throw new RangeError(
      `maxOrder must be a positive integer, got ${maxOrder}`,
    );
  }
  const matches = new Array<number>(maxOrder).fill(0);
  const totals = new Array<number>(maxOrder).fill(0);
  let c = 0;
  let r = 0;
  hypotheses.forEach((hyp, s) => {
    const refs = references[s];
    if (refs.length === 0) {
      throw new RangeError(`hypothesis ${s} has no reference`);
    }
    c += hyp.length;
    r += closestLength(refs, hyp.length);
    for (let n = 1; n <= maxOrder; n++) {
      // Clipping: an n-gram counts at most as often as in any one reference.
      const maxRef = new Map<string, number>();
      for (const ref of refs) {
        for (const [g, k] of ngramCounts(ref, n)) {
          if (k > (maxRef.get(g) ?? 0)) maxRef.set(g, k);
        }
      }
      for (const [g, k] of ngramCounts(hyp, n)) {
        matches[n - 1] += Math.min(k, maxRef.get(g) ?? 0);
        totals[n - 1] += k;
      }
    }
  });
  const precisions = matches.map((m, i) => totals[i] > 0 ? m / totals[i] : 0);
  const brevityPenalty = c === 0 ? 0 : c > r ? 1 : Math.exp(1 - r / c);
  const logMean = precisions.some((p) => p === 0)
    ? -Infinity
    : precisions.reduce((s, p) => s + Math.log(p), 0) / maxOrder;
  return {
    bleu: brevityPenalty * Math.exp(logMean),
    precisions,
    brevityPenalty,
    hypothesisLength: c,
    referenceLength: r,
  };
}

/**
 * Corpus BLEU-4 of hypothesis texts against one reference text each, over
 * whitespace-separated words ({@link bleuTokens}).
 * @throws {RangeError} when the counts differ.
 */
export function corpusBleuOfTexts(
  hypotheses: readonly string[],
  references: readonly string[],
): BleuScore {
  return corpusBleu(
    hypotheses.map(bleuTokens),
    references.map((r) => [bleuTokens(r)]),
  );
}
