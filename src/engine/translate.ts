/**
 * Greedy decoding of a decoder-only sequence model, and the BLEU it scores:
 * each prompt `BEGIN source SEP` is continued with the argmax token, one
 * position at a time, until END or the row length. Prompts are decoded
 * together in chunks (one forward pass per position for a whole chunk), in
 * eval mode, on the rows cut to the longest unfinished one. Causal attention
 * makes the padding after a row's last token irrelevant to the logits that
 * pick its next token.
 */
import * as tf from "@tensorflow/tfjs";
import type { SequentialModel } from "./model.ts";
import { evalChunkRows } from "./cost.ts";
import { corpusBleuOfTexts } from "./bleu.ts";
import { END_ID, PAD_ID, SEP_ID, Tokenizer } from "./data/tokenizer.ts";
import type { Vocabulary } from "./types.ts";

/** The row length `model` takes: its input shape's only dimension. */
function rowLength(model: SequentialModel): number {
  return model.inputShape[0];
}

/**
 * Greedy continuations of `prompts` (token ids, each `BEGIN source SEP`):
 * per prompt, the generated ids up to and without END. A prompt as long as
 * the row (or longer, then cut) generates nothing.
 */
export function greedyDecode(
  model: SequentialModel,
  prompts: readonly (readonly number[])[],
): number[][] {
  const steps = decodeSteps(model, prompts);
  let step = steps.next();
  while (!step.done) {
    const values = step.value.dataSync() as Int32Array;
    step.value.dispose();
    step = steps.next(values);
  }
  return step.value;
}

/**
 * {@link greedyDecode} with asynchronous reads: the only ones webgpu has (its
 * synchronous read needs a 2D canvas).
 */
export async function greedyDecodeAsync(
  model: SequentialModel,
  prompts: readonly (readonly number[])[],
): Promise<number[][]> {
  const steps = decodeSteps(model, prompts);
  let step = steps.next();
  while (!step.done) {
    const values = await step.value.data() as Int32Array;
    step.value.dispose();
    step = steps.next(values);
  }
  return step.value;
}

/**
 * The decoding loop, read by its driver: yields each pass's argmax tensor
 * (the driver reads and disposes it) and takes back its values.
 */
function* decodeSteps(
  model: SequentialModel,
  prompts: readonly (readonly number[])[],
): Generator<tf.Tensor, number[][], Int32Array> {
  const length = rowLength(model);
  const out: number[][] = prompts.map(() => []);
  const chunk = evalChunkRows(length);
  for (let start = 0; start < prompts.length; start += chunk) {
    const size = Math.min(chunk, prompts.length - start);
    const ids = new Int32Array(size * length).fill(PAD_ID);
    const used = new Int32Array(size);
    const active = new Uint8Array(size);
    for (let i = 0; i < size; i++) {
      const p = prompts[start + i].slice(0, length);
      ids.set(p, i * length);
      used[i] = p.length;
      active[i] = p.length > 0 && p.length < length ? 1 : 0;
    }
    while (active.some((a) => a === 1)) {
      // Causal attention: positions past the longest active row change no
      // logit we read, so each pass runs on the rows cut to that width.
      let width = 0;
      for (let i = 0; i < size; i++) {
        if (active[i]) width = Math.max(width, used[i]);
      }
      const next = tf.tidy(() => {
        const x = tf.slice(
          tf.tensor2d(ids, [size, length], "int32"),
          [0, 0],
          [size, width],
        );
        return tf.argMax(model.forward(x), 2);
      });
      const argmax = yield next;
      for (let i = 0; i < size; i++) {
        if (!active[i]) continue;
        const token = argmax[i * width + used[i] - 1];
        if (token === END_ID) {
          active[i] = 0;
          continue;
        }
        ids[i * length + used[i]] = token;
        used[i] += 1;
        out[start + i].push(token);
        if (used[i] >= length) active[i] = 0;
      }
    }
  }
  return out;
}

/**
 * Translates `sources` with a trained model and its tokenizer: greedy
 * decoding from `tokenizer.encodePrompt(source)`, then
 * {@link Tokenizer.decode}.
 */
export function translate(
  model: SequentialModel,
  tokenizer: Tokenizer,
  sources: readonly string[],
): string[] {
  const generated = greedyDecode(
    model,
    sources.map((s) => tokenizer.encodePrompt(s)),
  );
  return generated.map((ids) => tokenizer.decode(ids));
}

/** {@link translate} with asynchronous reads, which every backend has. */
export async function translateAsync(
  model: SequentialModel,
  tokenizer: Tokenizer,
  sources: readonly string[],
): Promise<string[]> {
  const generated = await greedyDecodeAsync(
    model,
    sources.map((s) => tokenizer.encodePrompt(s)),
  );
  return generated.map((ids) => tokenizer.decode(ids));
}

/** A tokenizer for `vocabulary`, or undefined when it is not a valid one (BLEU is then skipped). */
export function tryTokenizer(vocabulary: Vocabulary): Tokenizer | undefined {
  try {
    return new Tokenizer(vocabulary);
  } catch {
    return undefined;
  }
}

/** Corpus BLEU-4 of the greedy translations of `sources` against `references`. */
export async function bleuOfSources(
  model: SequentialModel,
  tokenizer: Tokenizer,
  sources: readonly string[],
  references: readonly string[],
): Promise<number> {
  if (sources.length === 0) return 0;
  return corpusBleuOfTexts(
    await translateAsync(model, tokenizer, sources),
    references,
  ).bleu;
}

/**
 * Corpus BLEU-4 of encoded rows (`BEGIN source SEP target END`, `[N, T]`):
 * each row's prompt is its tokens up to and with the first SEP, its
 * reference its target decoded by {@link Tokenizer.decodeTarget}. At most
 * `maxRows` rows, the first ones.
 */
export async function bleuOfRows(
  model: SequentialModel,
  tokenizer: Tokenizer,
  tokens: Int32Array,
  length: number,
  maxRows = Infinity,
): Promise<number> {
  const n = Math.min(tokens.length / length, maxRows);
  if (n <= 0) return 0;
  const prompts: number[][] = [];
  const references: string[] = [];
  for (let i = 0; i < n; i++) {
    const row = tokens.subarray(i * length, (i + 1) * length);
    const sep = row.indexOf(SEP_ID);
    prompts.push(Array.from(row.subarray(0, sep < 0 ? length : sep + 1)));
    references.push(tokenizer.decodeTarget(row));
  }
  const hypotheses = (await greedyDecodeAsync(model, prompts)).map((ids) =>
    tokenizer.decode(ids)
  );
  return corpusBleuOfTexts(hypotheses, references).bleu;
}
