/**
 * Tokenisation for sequence models: text cut into characters (Unicode code
 * points, the default) or whitespace-separated words, a vocabulary built from
 * training text, and the `BEGIN source SEP target END` encoding of a pair
 * with its target mask. The vocabulary is plain JSON ({@link Vocabulary}), so
 * it can be saved with checkpoints and exports and rebuilt exactly.
 */
import { EngineError, type TokenizerKind, type Vocabulary } from "../types.ts";

/** The tokenizers, for the spec and the upload form. */
export const TOKENIZERS = [
  "char",
  "word",
] as const satisfies readonly TokenizerKind[];

/** Padding after END. */
export const PAD_ID = 0;
/** First token of every row. */
export const BEGIN_ID = 1;
/** Between source and target. */
export const SEP_ID = 2;
/** After the target; the model learns to stop here. */
export const END_ID = 3;
/** A token the vocabulary does not hold (a test-only character or word). */
export const UNK_ID = 4;
/** The strings that stand at ids 0 to 4 of every vocabulary. */
export const RESERVED_TOKENS = ["<pad>", "<s>", "<sep>", "</s>", "<unk>"];
/** Tokens a pair takes besides its source and target: BEGIN, SEP and END. */
export const PAIR_OVERHEAD = 3;

/** Cuts `text` into tokens: code points (`char`), or words split at whitespace (`word`). */
export function splitTokens(kind: TokenizerKind, text: string): string[] {
  if (kind === "char") return Array.from(text);
  const words = text.split(/\s+/);
  return words.filter((w) => w !== "");
}

/** Tokens `BEGIN source SEP target END` takes. */
export function pairLength(
  kind: TokenizerKind,
  source: string,
  target: string,
): number {
  return splitTokens(kind, source).length + splitTokens(kind, target).length +
    PAIR_OVERHEAD;
}

function invalidVocabulary(message: string): EngineError {
  return new EngineError("invalid_data", `invalid vocabulary: ${message}`);
}

/** Token ids of `BEGIN source SEP target END`, and the mask of what the loss scores. */
export interface EncodedPair {
  ids: Int32Array;
  mask: Uint8Array;
}

/** Encodes and decodes with one vocabulary. */
export class Tokenizer {
  readonly vocabulary: Vocabulary;
  readonly #ids = new Map<string, number>();

  /**
   * Wraps a vocabulary (built here or read back from JSON).
   * @throws {EngineError} `invalid_data` when the tokenizer is unknown, the
   * reserved tokens are not at ids 0 to 4, or a token repeats.
   */
  constructor(vocabulary: Vocabulary) {
    const { tokenizer, tokens } = vocabulary;
    if (!(TOKENIZERS as readonly string[]).includes(tokenizer)) {
      throw invalidVocabulary(
        `tokenizer must be one of ${TOKENIZERS.join(", ")}, got ${tokenizer}`,
      );
    }
    if (!Array.isArray(tokens) || tokens.length < RESERVED_TOKENS.length) {
      throw invalidVocabulary(
        `expected at least the ${RESERVED_TOKENS.length} reserved tokens`,
      );
    }
    RESERVED_TOKENS.forEach((t, i) => {
      if (tokens[i] !== t) {
        throw invalidVocabulary(`id ${i} must be ${t}, found ${tokens[i]}`);
      }
    });
    // Reserved ids are never the encoding of text: a literal "<unk>" word in
    // the data is a token of its own.
    for (let id = RESERVED_TOKENS.length; id < tokens.length; id++) {
      const token = tokens[id];
      if (typeof token !== "string" || this.#ids.has(token)) {
        throw invalidVocabulary(
          `token ${id} (${token}) is repeated or not a string`,
        );
      }
      this.#ids.set(token, id);
    }
    this.vocabulary = { tokenizer, tokens: [...tokens] };
  }

  /**
   * Builds the vocabulary of `texts`: the reserved tokens, then every token
   * seen, most frequent first, ties in code-unit order (so the same texts in
   * any order give the same ids).
   */
  static build(kind: TokenizerKind, texts: Iterable<string>): Tokenizer {
    const counts = new Map<string, number>();
    for (const text of texts) {
      for (const t of splitTokens(kind, text)) {
        counts.set(t, (counts.get(t) ?? 0) + 1);
      }
    }
    const seen = [...counts.entries()].sort((a, b) =>
      b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)
    ).map(([t]) => t);
    return new Tokenizer({
      tokenizer: kind,
      tokens: [...RESERVED_TOKENS, ...seen],
    });
  }

  /** Number of ids, the reserved ones included: the output layer's width. */
  get size(): number {
    return this.vocabulary.tokens.length;
  }

  get kind(): TokenizerKind {
    return this.vocabulary.tokenizer;
  }

  /** The ids of `text`'s tokens, {@link UNK_ID} for tokens not in the vocabulary. */
  encode(text: string): number[] {
    return splitTokens(this.kind, text).map((t) => this.#ids.get(t) ?? UNK_ID);
  }

  /** `BEGIN source SEP`: what a model continues to translate `source`. */
  encodePrompt(source: string): number[] {
    return [BEGIN_ID, ...this.encode(source), SEP_ID];
  }

  /**
   * `BEGIN source SEP target END`, padded with PAD to `length`, and its mask:
   * 1 on the target tokens and END, 0 elsewhere.
   * @throws {EngineError} `invalid_data` when the pair takes more than `length` tokens.
   */
  encodePair(source: string, target: string, length: number): EncodedPair {
    const ids = new Int32Array(length);
    const mask = new Uint8Array(length);
    this.encodePairInto(source, target, ids, mask, 0, length);
    return { ids, mask };
  }

  /**
   * {@link encodePair} written into row `row` of `[N, length]` arrays, which
   * must be zero there (fresh arrays are).
   * @throws {EngineError} `invalid_data` when the pair takes more than `length` tokens.
   */
  encodePairInto(
    source: string,
    target: string,
    ids: Int32Array,
    mask: Uint8Array,
    row: number,
    length: number,
  ): void {
    const src = this.encode(source);
    const tgt = this.encode(target);
    const needed = src.length + tgt.length + PAIR_OVERHEAD;
    if (needed > length) {
      throw new EngineError(
        "invalid_data",
        `the pair takes ${needed} tokens (source ${src.length}, target ${tgt.length}, plus BEGIN, SEP and END), more than max_length ${length}`,
      );
    }
    let at = row * length;
    ids[at++] = BEGIN_ID;
    for (const id of src) ids[at++] = id;
    ids[at++] = SEP_ID;
    for (const id of tgt) {
      mask[at] = 1;
      ids[at++] = id;
    }
    mask[at] = 1;
    ids[at] = END_ID;
  }

  /**
   * Text of `ids` up to the first END: reserved BEGIN, SEP and PAD are
   * skipped, unknown ids read as `<unk>`. Characters join with nothing,
   * words with one space (so word tokenisation normalises whitespace).
   */
  decode(ids: ArrayLike<number>): string {
    const out: string[] = [];
    const tokens = this.vocabulary.tokens;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id === END_ID) break;
      if (id === PAD_ID || id === BEGIN_ID || id === SEP_ID) continue;
      out.push(
        id > UNK_ID && id < tokens.length
          ? tokens[id]
          : RESERVED_TOKENS[UNK_ID],
      );
    }
    return out.join(this.kind === "char" ? "" : " ");
  }

  /** The target text of an encoded row: what follows the first SEP, up to END. */
  decodeTarget(ids: ArrayLike<number>): string {
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] === SEP_ID) {
        return this.decode(Array.prototype.slice.call(ids, i + 1));
      }
    }
    return "";
  }

  /** The vocabulary, for JSON. */
  toJSON(): Vocabulary {
    return this.vocabulary;
  }
}
