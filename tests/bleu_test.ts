/**
 * Corpus BLEU against values worked out by hand from the definition
 * (Papineni et al. 2002), and against NLTK's documented examples.
 */
import assert from "node:assert/strict";
import {
  bleuTokens,
  corpusBleu,
  corpusBleuOfTexts,
} from "../src/engine/bleu.ts";

const w = (s: string) => s.split(" ");

function close(actual: number, expected: number, tol = 1e-12): void {
  assert.ok(
    Math.abs(actual - expected) <= tol,
    `expected ${expected}, got ${actual}`,
  );
}

Deno.test("corpusBleu of a perfect corpus is 1", () => {
  const s = corpusBleuOfTexts(["the cat sat on the mat"], [
    "the cat sat on the mat",
  ]);
  assert.deepEqual(s, {
    bleu: 1,
    precisions: [1, 1, 1, 1],
    brevityPenalty: 1,
    hypothesisLength: 6,
    referenceLength: 6,
  });
});

Deno.test("corpusBleu is 0 when no n-gram matches", () => {
  const s = corpusBleuOfTexts(["a b c d"], ["e f g h"]);
  assert.equal(s.bleu, 0);
  assert.deepEqual(s.precisions, [0, 0, 0, 0]);
  assert.equal(s.brevityPenalty, 1);
  // Unigrams all match but no 4-gram does: still 0, unsmoothed.
  assert.equal(corpusBleuOfTexts(["d c b a"], ["a b c d"]).bleu, 0);
  // An empty hypothesis.
  assert.equal(corpusBleuOfTexts([""], ["a b c d"]).bleu, 0);
});

Deno.test("corpusBleu with a brevity penalty, by hand", () => {
  // Hypothesis 6 words, reference 7.
  // 1-grams: all 6 match.                      p1 = 6/6
  // 2-grams: "the mat" is not in the reference. p2 = 4/5
  // 3-grams: "on the mat" is not.               p3 = 3/4
  // 4-grams: "sat on the mat" is not.           p4 = 2/3
  // BP = exp(1 - 7/6); BLEU = BP * (1 * 4/5 * 3/4 * 2/3)^(1/4) = BP * 0.4^(1/4).
  const s = corpusBleuOfTexts(["the cat sat on the mat"], [
    "the cat sat on the red mat",
  ]);
  assert.deepEqual(s.precisions, [1, 4 / 5, 3 / 4, 2 / 3]);
  close(s.brevityPenalty, Math.exp(1 - 7 / 6));
  close(s.bleu, Math.exp(1 - 7 / 6) * 0.4 ** 0.25);
  assert.equal(s.hypothesisLength, 6);
  assert.equal(s.referenceLength, 7);
  // Longer than the reference: no penalty.
  const long = corpusBleuOfTexts(["a b c d e"], ["a b c d"]);
  assert.equal(long.brevityPenalty, 1);
  // p = 4/5, 3/4, 2/3, 1/2: BLEU = (4/5 * 3/4 * 2/3 * 1/2)^(1/4) = 0.2^(1/4).
  close(long.bleu, 0.2 ** 0.25);
});

Deno.test("corpusBleu clips counts by the references (the paper's example)", () => {
  // Papineni et al. section 2.1: "the" appears at most twice in a reference,
  // so the modified unigram precision of seven "the" is 2/7.
  const s = corpusBleu(
    [w("the the the the the the the")],
    [[w("the cat is on the mat"), w("there is a cat on the mat")]],
    1,
  );
  assert.deepEqual(s.precisions, [2 / 7]);
  // Reference lengths 6 and 7: the closest to 7 is 7, so BP = 1.
  assert.equal(s.brevityPenalty, 1);
  close(s.bleu, 2 / 7);
});

Deno.test("corpusBleu pools counts and lengths over the corpus", () => {
  // Alone, "e f" has no 3-grams or 4-grams (BLEU 0); pooled with a perfect
  // 4-word sentence, every order's precision is 1.
  assert.equal(corpusBleuOfTexts(["e f"], ["e f"]).bleu, 0);
  const pooled = corpusBleuOfTexts(["a b c d", "e f"], ["a b c d", "e f"]);
  assert.deepEqual(pooled.precisions, [1, 1, 1, 1]);
  assert.equal(pooled.bleu, 1);
  // The brevity penalty uses corpus lengths: c = 4 + 4, r = 4 + 6.
  const short = corpusBleuOfTexts(
    ["a b c d", "e f g h"],
    ["a b c d", "e f g h i j"],
  );
  assert.deepEqual(short.precisions, [1, 1, 1, 1]);
  close(short.bleu, Math.exp(1 - 10 / 8));
});

Deno.test("corpusBleu takes the closest reference length, the shorter on a tie", () => {
  // |4 - 5| = |6 - 5|: r = 4, so c = 5 > r and there is no penalty.
  const s = corpusBleu([w("a b c d e")], [[w("a b c d"), w("a b c d e f")]]);
  assert.equal(s.referenceLength, 4);
  assert.equal(s.brevityPenalty, 1);
  assert.equal(s.bleu, 1);
});

Deno.test("corpusBleu matches NLTK's documented examples", () => {
  const hyp1 = w(
    "It is a guide to action which ensures that the military always obeys the commands of the party",
  );
  const ref1a = w(
    "It is a guide to action that ensures that the military will forever heed Party commands",
  );
  const ref1b = w(
    "It is the guiding principle which guarantees the military forces always being under the command of the Party",
  );
  const ref1c = w(
    "It is the practical guide for the army always to heed the directions of the party",
  );
  // nltk.translate.bleu_score: modified_precision gives 0.9444... and
  // 0.5882... for orders 1 and 2, and sentence_bleu 0.5045...
  const one = corpusBleu([hyp1], [[ref1a, ref1b, ref1c]]);
  close(one.precisions[0], 17 / 18);
  close(one.precisions[1], 10 / 17);
  // Counted by hand: 7 of the 16 trigrams occur in a reference ("It is a",
  // "is a guide", "a guide to", "guide to action", "ensures that the", "that
  // the military", "of the party"), and 4 of the 15 4-grams.
  close(one.precisions[2], 7 / 16);
  close(one.precisions[3], 4 / 15);
  assert.equal(one.referenceLength, 18, "ref1b has the hypothesis's 18 words");
  close(one.bleu, (17 / 18 * 10 / 17 * 7 / 16 * 4 / 15) ** 0.25);
  close(one.bleu, 0.5045, 1e-4);
  // corpus_bleu of two sentences: 0.5920...
  const hyp2 = w("he read the book because he was interested in world history");
  const ref2a = w(
    "he was interested in world history because he read the book",
  );
  const corpus = corpusBleu([hyp1, hyp2], [[ref1a, ref1b, ref1c], [ref2a]]);
  close(corpus.bleu, 0.5920, 1e-4);
});

Deno.test("corpusBleu refuses mismatched inputs", () => {
  assert.throws(
    () => corpusBleu([w("a")], []),
    /one reference list per hypothesis, got 1 hypotheses and 0 reference lists/,
  );
  assert.throws(
    () => corpusBleu([w("a")], [[]]),
    /hypothesis 0 has no reference/,
  );
  assert.throws(
    () => corpusBleu([], [], 0),
    /maxOrder must be a positive integer/,
  );
});

Deno.test("bleuTokens splits at whitespace; n-gram keys cannot collide", () => {
  assert.deepEqual(bleuTokens("  a\tb\n c  "), ["a", "b", "c"]);
  // Joined naively, ["a b", "c"] and ["a", "b c"] would be the same bigram key.
  const s = corpusBleu([["a b", "c"]], [[["a", "b c"]]], 2);
  assert.deepEqual(s.precisions, [0, 0]);
  // Object-prototype names are ordinary tokens.
  const proto = corpusBleuOfTexts(["constructor toString"], ["x y"]);
  assert.deepEqual(proto.precisions, [0, 0, 0, 0]);
});
