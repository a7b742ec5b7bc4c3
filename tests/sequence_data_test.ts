/**
 * Token-sequence data: parallel-text parsing, the tokenizer and its
 * vocabulary, the synthetic translation task, the CLI's parallel_text format,
 * and what the spec and admission know of them.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  BEGIN_ID,
  END_ID,
  isoDate,
  longDate,
  makeTranslationDataset,
  makeTranslationPair,
  MAX_SEQUENCE_LENGTH,
  numberToWords,
  PAD_ID,
  parallelTextDataset,
  parseParallelText,
  RESERVED_TOKENS,
  SEP_ID,
  Tokenizer,
  TRANSLATION_LENGTH,
  TRANSLATION_VOCABULARY_SIZE,
  translationTokenizer,
  UNK_ID,
} from "../src/engine/data/mod.ts";
import { LONGEST_NUMBER_WORDS } from "../src/engine/data/translation_words.ts";
import { Rng } from "../src/engine/rng.ts";
import { DatasetSpec, JobSpec } from "../src/engine/spec.ts";
import { datasetInfoFromSpec, datasetInfoOf } from "../src/engine/admission.ts";
import { EngineError, type TextPair } from "../src/engine/types.ts";
import { resolveDataset } from "../workers/resolve_dataset.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);

function throwsWith(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof EngineError, `expected EngineError, got ${e}`);
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

/** Row `i` of an `[N, T]` array. */
function row<T extends Int32Array | Uint8Array>(a: T, i: number, t: number): T {
  return a.subarray(i * t, (i + 1) * t) as T;
}

// ---------------------------------------------------------------- parsing

Deno.test("parseParallelText reads source<TAB>target lines", () => {
  const text = "\uFEFFhello\tbonjour\r\ncat\tchat\n\n\n";
  assert.deepEqual(parseParallelText(utf8(text)), [
    { source: "hello", target: "bonjour" },
    { source: "cat", target: "chat" },
  ]);
  // Spaces belong to the text; only the line break is cut.
  assert.deepEqual(parseParallelText(" a b \t c "), [
    { source: " a b ", target: " c " },
  ]);
});

Deno.test("parseParallelText names the line of every error", async (t) => {
  const cases: [string, Uint8Array | string, RegExp, object?][] = [
    ["empty file", "", /^empty file: expected source<TAB>target lines$/],
    ["only blank lines", "\n \n", /^empty file/],
    [
      "a line without a tab",
      "a\tb\nno tab here\nc\td\n",
      /^line 2: expected source<TAB>target, found no tab$/,
    ],
    [
      "a line with two tabs",
      "a\tb\nc\td\te\n",
      /^line 2: expected one tab between source and target, found 2$/,
    ],
    [
      "a blank line between pairs",
      "a\tb\n\nc\td\n",
      /^line 2: empty line; expected source<TAB>target$/,
    ],
    ["an empty source", "a\tb\n\tx\n", /^line 2: the source is empty$/],
    [
      "an empty word target",
      "a\tb\nc\t   \n",
      /^line 2: the target is empty$/,
      { tokenizer: "word" },
    ],
    [
      "bytes that are not UTF-8",
      new Uint8Array([...utf8("a\tb\nc\td\ne\t"), 0xff, 0x0a, ...utf8("f\tg")]),
      /^line 3: not valid UTF-8 text/,
    ],
    [
      "a truncated multi-byte character",
      new Uint8Array([...utf8("a\t"), 0xc3]),
      /^line 1: not valid UTF-8 text/,
    ],
    [
      "a pair longer than max_length",
      "ab\tcd\nabcde\tfghij\n",
      /^line 2: the pair takes 13 char tokens \(source 5, target 5, plus BEGIN, SEP and END\), more than max_length 12$/,
      { maxLength: 12 },
    ],
    [
      "a pair longer than max_length in words",
      "the cat\tle chat noir\n",
      /^line 1: the pair takes 8 word tokens \(source 2, target 3, plus BEGIN, SEP and END\), more than max_length 6$/,
      { tokenizer: "word", maxLength: 6 },
    ],
    [
      "a pair longer than the limit",
      `a\tb\n${"x".repeat(MAX_SEQUENCE_LENGTH)}\ty\n`,
      new RegExp(
        `^line 2: the pair takes ${
          MAX_SEQUENCE_LENGTH + 4
        } char tokens .* more than the limit of ${MAX_SEQUENCE_LENGTH} tokens$`,
      ),
    ],
  ];
  for (const [name, input, message, options] of cases) {
    await t.step(name, () => {
      throwsWith(
        () => parseParallelText(input, options),
        "invalid_data",
        message,
      );
    });
  }
});

// ---------------------------------------------------------------- tokenizer

Deno.test("Tokenizer reserves ids 0-4 and orders tokens by frequency, then code unit", () => {
  const tok = Tokenizer.build("char", ["abb", "cb", "ca"]);
  assert.equal(PAD_ID, 0);
  assert.equal(BEGIN_ID, 1);
  assert.equal(SEP_ID, 2);
  assert.equal(END_ID, 3);
  assert.equal(UNK_ID, 4);
  // b: 3, a: 2, c: 2 (a before c).
  assert.deepEqual(tok.vocabulary, {
    tokenizer: "char",
    tokens: ["<pad>", "<s>", "<sep>", "</s>", "<unk>", "b", "a", "c"],
  });
  assert.equal(tok.size, 8);
  // The same texts in another order give the same ids.
  assert.deepEqual(
    Tokenizer.build("char", ["ca", "abb", "cb"]).vocabulary,
    tok.vocabulary,
  );
});

Deno.test("Tokenizer encodes BEGIN source SEP target END, padded, with the target mask", () => {
  const tok = Tokenizer.build("char", ["ab"]); // a: 5, b: 6
  const { ids, mask } = tok.encodePair("ab", "ba", 9);
  assert.deepEqual([...ids], [1, 5, 6, 2, 6, 5, 3, 0, 0]);
  assert.deepEqual([...mask], [0, 0, 0, 0, 1, 1, 1, 0, 0]);
  assert.deepEqual(tok.encodePrompt("ba"), [1, 6, 5, 2]);
  // Exactly full: no padding.
  assert.deepEqual([...tok.encodePair("a", "b", 5).ids], [1, 5, 2, 6, 3]);
  throwsWith(
    () => tok.encodePair("ab", "ba", 6),
    "invalid_data",
    /the pair takes 7 tokens \(source 2, target 2, plus BEGIN, SEP and END\), more than max_length 6/,
  );
});

Deno.test("Tokenizer round-trips text; unknown tokens become unk", async (t) => {
  await t.step("characters are code points", () => {
    const text = "café 😀 naïve";
    const tok = Tokenizer.build("char", [text]);
    assert.equal(tok.encode("😀").length, 1);
    const { ids } = tok.encodePair(text, text.toUpperCase(), 40);
    // Upper case never occurs in the vocabulary's text; spaces and 😀 do.
    assert.equal(
      tok.decodeTarget(ids),
      "<unk>".repeat(4) + " 😀 " + "<unk>".repeat(5),
    );
    assert.equal(tok.decode(tok.encodePrompt(text)), text);
    assert.equal(tok.decodeTarget(tok.encodePair("é", text, 40).ids), text);
  });
  await t.step("words split at whitespace and join with one space", () => {
    const tok = Tokenizer.build("word", ["the cat sat", "on the  mat"]);
    assert.deepEqual(tok.encode("the\tcat  sat\n"), tok.encode("the cat sat"));
    const { ids } = tok.encodePair("the mat", " cat\tsat on  the mat ", 12);
    assert.equal(tok.decodeTarget(ids), "cat sat on the mat");
    assert.deepEqual(tok.encode("the dog"), [tok.encode("the")[0], UNK_ID]);
    assert.equal(tok.decode(tok.encode("the dog")), "the <unk>");
  });
  await t.step("a literal reserved string is an ordinary token", () => {
    const tok = Tokenizer.build("word", ["<unk> <pad>"]);
    // Equal counts: "<pad>" sorts before "<unk>".
    assert.deepEqual(tok.encode("<unk> <pad>"), [6, 5]);
    assert.equal(tok.decode([6, 5, UNK_ID]), "<unk> <pad> <unk>");
  });
  await t.step("decoding stops at END and skips BEGIN, SEP and PAD", () => {
    const tok = Tokenizer.build("char", ["xy"]);
    assert.equal(tok.decode([1, 5, 2, 0, 6, 3, 5, 5]), "xy");
    assert.equal(tok.decode([5, 999, -1]), "x<unk><unk>");
    assert.equal(tok.decodeTarget([1, 5, 5]), "", "no SEP, no target");
  });
});

Deno.test("Tokenizer vocabulary is plain JSON and rebuilds the same tokenizer", () => {
  const tok = Tokenizer.build("word", ["a b c", "b c", "c"]);
  const json = JSON.parse(JSON.stringify(tok));
  assert.deepEqual(json, tok.vocabulary);
  const back = new Tokenizer(json);
  assert.deepEqual(
    back.encodePair("a c", "b", 8),
    tok.encodePair("a c", "b", 8),
  );
  throwsWith(
    () => new Tokenizer({ tokenizer: "char", tokens: ["<pad>", "<s>"] }),
    "invalid_data",
    /at least the 5 reserved tokens/,
  );
  throwsWith(
    () =>
      new Tokenizer({
        tokenizer: "char",
        tokens: ["<pad>", "<s>", "<sep>", "<unk>", "</s>"],
      }),
    "invalid_data",
    /id 3 must be <\/s>, found <unk>/,
  );
  throwsWith(
    () =>
      new Tokenizer({
        tokenizer: "char",
        tokens: [...RESERVED_TOKENS, "a", "a"],
      }),
    "invalid_data",
    /token 6 \(a\) is repeated/,
  );
  throwsWith(
    () =>
      new Tokenizer({
        tokenizer: "bpe" as "char",
        tokens: [...RESERVED_TOKENS],
      }),
    "invalid_data",
    /tokenizer must be one of char, word, got bpe/,
  );
});

// ---------------------------------------------------------------- datasets

Deno.test("parallelTextDataset builds the vocabulary from the training split only", () => {
  const train: TextPair[] = [{ source: "ab", target: "ba" }, {
    source: "a",
    target: "b",
  }];
  const test: TextPair[] = [{ source: "az", target: "zb" }];
  const d = parallelTextDataset(train, test);
  const seq = d.sequences!;
  assert.deepEqual(seq.vocabulary.tokens.slice(5).sort(), ["a", "b"]);
  const tok = new Tokenizer(seq.vocabulary);
  const z = seq.test!.tokens.subarray(0, seq.length);
  // "az" SEP "zb": the test-only "z" is unk in both places.
  assert.deepEqual(
    [...z].slice(0, 7),
    [
      BEGIN_ID,
      tok.encode("a")[0],
      UNK_ID,
      SEP_ID,
      UNK_ID,
      tok.encode("b")[0],
      END_ID,
    ],
  );
  assert.deepEqual(seq.test!.pairs, test, "raw test pairs kept for BLEU");
  assert.equal(d.classes, 7);
});

Deno.test("parallelTextDataset lays out rows, masks and the sample view", () => {
  const train: TextPair[] = [
    { source: "ab", target: "c" },
    { source: "b", target: "cab" },
  ];
  const d = parallelTextDataset(train, [{ source: "abc", target: "abc" }]);
  const seq = d.sequences!;
  // Longest pair of either split: 3 + 3 + 3.
  assert.equal(seq.length, 9);
  assert.deepEqual(d.sampleShape, [9]);
  assert.equal(d.y.length, 2);
  assert.deepEqual([...d.y], [0, 0]);
  assert.deepEqual([...d.x], [...seq.tokens], "x is the ids as float32");
  assert.deepEqual([...d.test!.x], [...seq.test!.tokens]);
  assert.deepEqual([...row(seq.targetMask, 0, 9)], [0, 0, 0, 0, 1, 1, 0, 0, 0]);
  assert.deepEqual([...row(seq.targetMask, 1, 9)], [0, 0, 0, 1, 1, 1, 1, 0, 0]);
  const tok = new Tokenizer(seq.vocabulary);
  assert.equal(tok.decodeTarget(row(seq.tokens, 1, 9)), "cab");
  assert.equal(tok.decode(row(seq.tokens, 0, 9)), "abc");

  const wide = parallelTextDataset(train, undefined, { maxLength: 16 });
  assert.equal(wide.sequences!.length, 16);
  assert.equal(wide.test, undefined);
  assert.equal(wide.sequences!.test, undefined);
});

Deno.test("parallelTextDataset test_fraction holds out a fixed choice of lines", () => {
  const pairs = Array.from(
    { length: 40 },
    (_, i) => ({ source: `s${i}`, target: `t${String.fromCharCode(65 + i)}` }),
  );
  const d = parallelTextDataset(pairs, undefined, { testFraction: 0.25 });
  const again = parallelTextDataset(pairs, undefined, { testFraction: 0.25 });
  const held = d.sequences!.test!.pairs;
  assert.equal(held.length, 10);
  assert.equal(d.y.length, 30);
  assert.deepEqual(again.sequences!.test!.pairs, held);
  assert.notDeepEqual(held, pairs.slice(30), "not simply the last lines");
  // File order is kept, and a held-out target letter is not in the vocabulary.
  const order = held.map((p) => pairs.indexOf(p));
  assert.deepEqual(order, [...order].sort((a, b) => a - b));
  const vocab = new Set(d.sequences!.vocabulary.tokens);
  for (const p of held) assert.equal(vocab.has(p.target[1]), false, p.target);
  throwsWith(
    () => parallelTextDataset(pairs, [], { testFraction: 0.1 }),
    "invalid_spec",
    /a test file or test_fraction, not both/,
  );
  throwsWith(
    () => parallelTextDataset(pairs, undefined, { testFraction: 0.9 }),
    "invalid_spec",
    /test_fraction must be in \(0, 0.5\], got 0.9/,
  );
});

// ---------------------------------------------------------------- translation task

const SMALL: Record<string, number> = Object.fromEntries([
  ..."zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen"
    .split(" ").map((w, i) => [w, i]),
  ..."twenty thirty forty fifty sixty seventy eighty ninety".split(" ").map((
    w,
    i,
  ) => [w, 20 + 10 * i]),
]);

/** An independent reader of number words (it ignores "and"). */
function wordsToNumber(text: string): number {
  let total = 0;
  let current = 0;
  for (const w of text.split(" ")) {
    if (w === "and") continue;
    if (w === "hundred") current *= 100;
    else if (w === "thousand") {
      total += current * 1000;
      current = 0;
    } else {
      for (const part of w.split("-")) {
        assert.ok(part in SMALL, `unknown word ${part} in "${text}"`);
        current += SMALL[part];
      }
    }
  }
  return total + current;
}

const MONTH_NAMES =
  "January February March April May June July August September October November December"
    .split(" ");

Deno.test("numberToWords writes British English", () => {
  const cases: [number, string][] = [
    [0, "zero"],
    [7, "seven"],
    [12, "twelve"],
    [21, "twenty-one"],
    [40, "forty"],
    [100, "one hundred"],
    [101, "one hundred and one"],
    [312, "three hundred and twelve"],
    [1000, "one thousand"],
    [1004, "one thousand and four"],
    [1100, "one thousand one hundred"],
    [21_100, "twenty-one thousand one hundred"],
    [101_000, "one hundred and one thousand"],
    [700_050, "seven hundred thousand and fifty"],
    [
      999_999,
      "nine hundred and ninety-nine thousand nine hundred and ninety-nine",
    ],
  ];
  for (const [n, words] of cases) assert.equal(numberToWords(n), words);
  assert.throws(() => numberToWords(1_000_000), RangeError);
  assert.throws(() => numberToWords(1.5), RangeError);
});

Deno.test("numberToWords reads back for every number, and its longest is LONGEST_NUMBER_WORDS", () => {
  let longest = 0;
  for (let n = 0; n <= 999_999; n++) {
    const w = numberToWords(n);
    if (w.length > longest) longest = w.length;
    if (n % 997 === 0 || n < 2000) assert.equal(wordsToNumber(w), n);
  }
  assert.equal(longest, LONGEST_NUMBER_WORDS);
  assert.equal(
    TRANSLATION_LENGTH,
    3 + "digits: ".length + LONGEST_NUMBER_WORDS + 6,
  );
});

Deno.test("date formats", () => {
  const d = { year: 2026, month: 11, day: 28 };
  assert.equal(isoDate(d), "2026-11-28");
  assert.equal(longDate(d), "28 November 2026");
  assert.equal(isoDate({ year: 1904, month: 2, day: 9 }), "1904-02-09");
  assert.equal(longDate({ year: 1904, month: 2, day: 9 }), "9 February 1904");
});

/** Checks one generated pair against an independent reading of its task. */
function checkPair(p: TextPair): string {
  let m: RegExpMatchArray | null;
  if ((m = p.source.match(/^words: (\d{1,6})$/))) {
    assert.equal(wordsToNumber(p.target), Number(m[1]));
    assert.equal(String(Number(m[1])), m[1], "no leading zeros");
    return "words";
  }
  if ((m = p.source.match(/^digits: ([a-z -]+)$/))) {
    assert.match(p.target, /^(0|[1-9]\d{0,5})$/);
    assert.equal(wordsToNumber(m[1]), Number(p.target));
    return "digits";
  }
  const iso = /^(\d{4})-(\d{2})-(\d{2})$/;
  const long = /^([1-9]\d?) ([A-Z][a-z]+) (\d{4})$/;
  const pairs: [string, RegExp, RegExp][] = [
    ["long: ", iso, long],
    ["iso: ", long, iso],
  ];
  for (const [marker, from, to] of pairs) {
    if (!p.source.startsWith(marker)) continue;
    const a = p.source.slice(marker.length).match(from);
    const b = p.target.match(to);
    assert.ok(a && b, `${p.source} -> ${p.target}`);
    const [isoM, longM] = marker === "long: " ? [a, b] : [b, a];
    const [y, mo, day] = [Number(isoM[1]), Number(isoM[2]), Number(isoM[3])];
    assert.equal(MONTH_NAMES[mo - 1], longM[2]);
    assert.equal(Number(longM[1]), day);
    assert.equal(Number(longM[3]), y);
    assert.ok(y >= 1900 && y <= 2099, `year ${y}`);
    const date = new Date(Date.UTC(y, mo - 1, day));
    assert.equal(date.getUTCDate(), day, `${p.target} is a real day`);
    return marker.trim();
  }
  throw new Error(`unknown task: ${p.source}`);
}

Deno.test("makeTranslationPair mixes four tasks, each correct", () => {
  const rng = new Rng(7);
  const counts: Record<string, number> = {};
  const digitCounts = new Array(7).fill(0);
  for (let i = 0; i < 4000; i++) {
    const p = makeTranslationPair(rng);
    const task = checkPair(p);
    counts[task] = (counts[task] ?? 0) + 1;
    if (task === "words") digitCounts[p.source.length - "words: ".length]++;
  }
  assert.deepEqual(Object.keys(counts).sort(), [
    "digits",
    "iso:",
    "long:",
    "words",
  ]);
  for (const n of Object.values(counts)) assert.ok(n > 850 && n < 1150, `${n}`);
  // Digit counts 1 to 6 equally likely: short numbers are not rare.
  for (let d = 1; d <= 6; d++) {
    assert.ok(digitCounts[d] > 100, `${digitCounts}`);
  }
});

Deno.test("makeTranslationDataset is determined by the seed, with a separate unseen test split", () => {
  const spec = { name: "synthetic-translation" as const, pairs: 300, seed: 3 };
  const a = makeTranslationDataset({ ...spec, test_pairs: 0 });
  const b = makeTranslationDataset({ ...spec, test_pairs: 100 });
  const c = makeTranslationDataset({ ...spec, seed: 4, test_pairs: 0 });
  assert.deepEqual(a.sequences!.tokens, b.sequences!.tokens);
  assert.deepEqual(a.sequences!.targetMask, b.sequences!.targetMask);
  assert.notDeepEqual(a.sequences!.tokens, c.sequences!.tokens);
  assert.deepEqual(
    makeTranslationDataset({ ...spec, test_pairs: 100 }).sequences!.test,
    b.sequences!.test,
  );
  assert.equal(a.test, undefined);

  const seq = b.sequences!;
  assert.equal(seq.length, TRANSLATION_LENGTH);
  assert.deepEqual(b.sampleShape, [TRANSLATION_LENGTH]);
  assert.deepEqual(seq.vocabulary, translationTokenizer().vocabulary);
  assert.equal(b.classes, TRANSLATION_VOCABULARY_SIZE);
  assert.ok(
    !seq.tokens.includes(UNK_ID),
    "the fixed alphabet covers every row",
  );
  assert.ok(!seq.test!.tokens.includes(UNK_ID));

  const sources = new Set<string>();
  const tok = new Tokenizer(seq.vocabulary);
  for (let i = 0; i < 300; i++) {
    const ids = row(seq.tokens, i, seq.length);
    const sep = ids.indexOf(SEP_ID);
    const source = tok.decode(ids.subarray(0, sep));
    const target = tok.decodeTarget(ids);
    checkPair({ source, target });
    sources.add(source);
    const mask = row(seq.targetMask, i, seq.length);
    const end = ids.indexOf(END_ID);
    for (let k = 0; k < seq.length; k++) {
      assert.equal(mask[k], k > sep && k <= end ? 1 : 0);
    }
  }
  const testSources = seq.test!.pairs.map((p) => p.source);
  assert.equal(new Set(testSources).size, 100, "test pairs are distinct");
  for (const s of testSources) assert.equal(sources.has(s), false, s);
  seq.test!.pairs.forEach(checkPair);
});

// ---------------------------------------------------------------- spec, admission, CLI

Deno.test("dataset specs for parallel text and the translation task", async (t) => {
  await t.step("parallel_text defaults to characters", () => {
    assert.deepEqual(
      DatasetSpec.parse({ format: "parallel_text", path: "a.tsv" }),
      { format: "parallel_text", path: "a.tsv", tokenizer: "char" },
    );
  });
  await t.step("parallel_text refuses bad fields", () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ test_path: "b.tsv", test_fraction: 0.1 }, /not both/],
      [{ max_length: MAX_SEQUENCE_LENGTH + 1 }, /max_length|1024/],
      [{ tokenizer: "bpe" }, /tokenizer|char/],
      [{ test_fraction: 0.6 }, /test_fraction|0.5/],
    ];
    for (const [fields, message] of bad) {
      const r = JobSpec.safeParse({
        model: { input_shape: [8], layers: [{ type: "dense", units: 4 }] },
        dataset: { format: "parallel_text", path: "a.tsv", ...fields },
        optimizer: { name: "sgd" },
      });
      assert.equal(r.success, false, JSON.stringify(fields));
      assert.match(JSON.stringify(r.error!.issues), message);
    }
  });
  await t.step("synthetic-translation has defaults and a size bound", () => {
    assert.deepEqual(DatasetSpec.parse({ name: "synthetic-translation" }), {
      name: "synthetic-translation",
      pairs: 20_000,
      seed: 1,
      test_pairs: 0,
    });
    const r = DatasetSpec.safeParse({
      name: "synthetic-translation",
      pairs: 1_000_000,
      test_pairs: 100_000,
    });
    assert.equal(r.success, false);
    assert.match(
      JSON.stringify(r.error!.issues),
      /synthetic-translation dataset would take .* lower pairs or test_pairs/,
    );
  });
  await t.step(
    "admission knows the translation task's shape and vocabulary",
    () => {
      const spec = DatasetSpec.parse({
        name: "synthetic-translation",
        pairs: 50,
        test_pairs: 10,
      });
      const info = datasetInfoFromSpec(spec)!;
      const data = makeTranslationDataset(
        spec as Parameters<typeof makeTranslationDataset>[0],
      );
      const real = datasetInfoOf(data);
      assert.deepEqual(info.sampleShape, real.sampleShape);
      assert.equal(info.classes, real.classes);
      assert.equal(info.trainSamples, real.trainSamples);
      assert.equal(info.testSamples, real.testSamples);
      assert.ok(info.loaderBytes >= real.loaderBytes);
    },
  );
});

Deno.test("resolveDataset reads parallel text relative to baseDir (the CLI format)", async (t) => {
  const tmp = await Deno.makeTempDir({ prefix: "fngd_seq_test_" });
  try {
    await Deno.writeTextFile(join(tmp, "train.tsv"), "ab\tba\nb\ta\n");
    await Deno.writeTextFile(join(tmp, "test.tsv"), "az\tza\n");
    await Deno.writeFile(join(tmp, "bad.tsv"), utf8("a\tb\nc d\n"));
    await t.step("with a test file", async () => {
      const d = await resolveDataset({
        format: "parallel_text",
        path: "train.tsv",
        test_path: "test.tsv",
        tokenizer: "char",
      }, { baseDir: tmp });
      assert.equal(d.sequences!.length, 7);
      assert.deepEqual(d.sequences!.test!.pairs, [{
        source: "az",
        target: "za",
      }]);
      assert.ok(d.sequences!.test!.tokens.includes(UNK_ID));
    });
    await t.step("with max_length and words", async () => {
      const d = await resolveDataset({
        format: "parallel_text",
        path: join(tmp, "train.tsv"),
        tokenizer: "word",
        max_length: 10,
      }, { baseDir: "/nonexistent" });
      assert.deepEqual(d.sampleShape, [10]);
      assert.equal(d.sequences!.vocabulary.tokenizer, "word");
    });
    await t.step("errors name the file and line", async () => {
      await assert.rejects(
        () =>
          resolveDataset({
            format: "parallel_text",
            path: "train.tsv",
            test_path: "bad.tsv",
            tokenizer: "char",
          }, { baseDir: tmp }),
        (e: unknown) => {
          assert.ok(e instanceof EngineError);
          assert.equal(e.code, "invalid_data");
          assert.equal(
            e.message,
            `${
              join(tmp, "bad.tsv")
            }: line 2: expected source<TAB>target, found no tab`,
          );
          return true;
        },
      );
      await assert.rejects(
        () =>
          resolveDataset({
            format: "parallel_text",
            path: "missing.tsv",
            tokenizer: "char",
          }, { baseDir: tmp }),
        { name: "EngineError", code: "data_not_found" },
      );
    });
    await t.step("synthetic-translation is generated", async () => {
      const d = await resolveDataset(
        DatasetSpec.parse({ name: "synthetic-translation", pairs: 20 }),
      );
      assert.equal(d.y.length, 20);
      assert.deepEqual(d.sampleShape, [TRANSLATION_LENGTH]);
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
