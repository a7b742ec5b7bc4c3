/**
 * Shape inference from the spec alone, allocating nothing: every layer's input
 * and output shape, its weight sites, and the checks that make a spec
 * runnable. Each kind's planner (layers/) does its own layer; this walks the
 * list. `SequentialModel` builds from this plan and the API admits jobs with
 * it, so what is accepted at submission is exactly what the engine can build.
 */
import type { PlannedSite } from "./layers/kind.ts";
import {
  LAYER_PLANNERS,
  type LayerSpec,
  type PlannedLayer,
  plannerOf,
} from "./layers/plans.ts";
import type { ModelSpec } from "./spec.ts";
import { EngineError, type SpecPath } from "./types.ts";

export type { PlannedLayer } from "./layers/plans.ts";
export type { PlannedSite } from "./layers/kind.ts";

/** The whole model's shapes. */
export interface ModelShapes {
  inputShape: number[];
  layers: PlannedLayer[];
  /** Every weight site in forward order; `trainable[i].index === i`. */
  trainable: PlannedSite[];
  /** Logits per sample (per position, for sequences). */
  outputUnits: number;
  /** Logits per sample in all: `outputUnits`, times T for sequences. */
  outputSize: number;
  /** Every embedding's table, which the token ids index. */
  tokenTables: TokenTable[];
}

/** An embedding's table: the JSON path of its `vocab` and its rows. */
export interface TokenTable {
  path: SpecPath;
  vocab: number;
}

/** `["model", "layers", 3, "units"]` -> `model.layers[3].units`. */
export function formatSpecPath(path: SpecPath): string {
  return path.map((p, i) =>
    typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`
  ).join("");
}

/** An `invalid_spec` error whose message starts with the JSON path it names. */
export function specError(path: SpecPath, message: string): EngineError {
  return new EngineError(
    "invalid_spec",
    `${formatSpecPath(path)}: ${message}`,
    {
      path,
    },
  );
}

const product = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Kinds whose output may be the class logits, for the last layer's message. */
const LOGIT_KINDS = Object.values(LAYER_PLANNERS).filter((p) => p.logits)
  .map((p) => p.type).join(" or ");

/** Where a list of layers sits: its JSON path, name prefix, and input. */
interface SequenceAt {
  /** JSON path of the list, e.g. `["model", "layers", 3, "layers"]`. */
  path: SpecPath;
  /** Prefix of its layers' names: `""` at the top, `residual_1/` in a block. */
  prefix: string;
  /** Position of the top-level layer that holds it (sites' `layer`). */
  top?: number;
  input: readonly number[];
  /** Whether the list's input depends on a weight site (needs a gradient). */
  inputGradient: boolean;
}

/**
 * Plans one list of layers (the model's, or a block's), numbering their
 * weight sites after those already in `sites`. A block plans its own lists
 * through `ctx.sequence`, which recurses here.
 */
function planSequence(
  specs: readonly LayerSpec[],
  at: SequenceAt,
  sites: PlannedSite[],
  tables: TokenTable[],
): { layers: PlannedLayer[]; output: number[] } {
  let input = [...at.input];
  let inputGradient = at.inputGradient;
  const layers: PlannedLayer[] = [];
  const ordinals = new Map<string, number>();
  specs.forEach((l, index) => {
    const path: SpecPath = [...at.path, index];
    // Names count layers of one kind within their list: dense_1, dense_2,
    // conv2d_1; a block's layers carry its name: residual_1/conv2d_1.
    const ordinal = (ordinals.get(l.type) ?? 0) + 1;
    ordinals.set(l.type, ordinal);
    const name = `${at.prefix}${l.type}_${ordinal}`;
    const top = at.top ?? index;
    const before = sites.length;
    const layerInput = input;
    if (l.type === "embedding") {
      tables.push({ path: [...path, "vocab"], vocab: l.vocab });
    }
    const fields = plannerOf(l.type).plan(l, {
      index,
      name,
      input: layerInput,
      inputGradient,
      site: (shape, part) => {
        const site = {
          ...shape,
          index: sites.length,
          name: part === undefined ? name : `${name}/${part}`,
          layer: top,
        };
        sites.push(site);
        return site;
      },
      fail: (message, field) =>
        specError(field === undefined ? path : [...path, field], message),
      sequence: (nested, field) =>
        planSequence(
          nested,
          {
            path: [...path, field],
            prefix: `${name}/${field === "layers" ? "" : `${field}/`}`,
            top,
            input: layerInput,
            inputGradient,
          },
          sites,
          tables,
        ),
    });
    layers.push({ ...fields, index, input: [...layerInput], inputGradient });
    inputGradient ||= sites.length > before;
    input = fields.output;
  });
  return { layers, output: input };
}

/**
 * Infers every layer's shapes and weight sites from `spec`, allocating no
 * tensor. Sites are numbered in forward order, a residual block's `layers`
 * before its `shortcut`.
 * @throws {EngineError} `invalid_spec` whose `path` names the offending layer
 * field (nested: `model.layers[3].layers[1]`): a dense layer on a non-flat
 * input, a conv or pool on a non-image, a kernel or pool that does not fit
 * its input, a residual block whose branches disagree in shape, or a last
 * layer that is not a dense layer giving a vector of logits, or a strided
 * conv with wide patches after the first trainable layer (whose patch
 * extraction has no gradient).
 */
export function inferModelShapes(spec: ModelSpec): ModelShapes {
  const sites: PlannedSite[] = [];
  const tokenTables: TokenTable[] = [];
  const { layers, output } = planSequence(
    spec.layers,
    {
      path: ["model", "layers"],
      prefix: "",
      input: spec.input_shape,
      inputGradient: false,
    },
    sites,
    tokenTables,
  );
  const last = spec.layers.length - 1;
  if (!plannerOf(spec.layers[last].type).logits) {
    throw specError(
      ["model", "layers", last],
      `the last layer must be ${LOGIT_KINDS} (its outputs are the class logits), got ${
        spec.layers[last].type
      }`,
    );
  }
  return {
    inputShape: [...spec.input_shape],
    layers,
    trainable: sites,
    // The last axis: classes, or the vocabulary of a sequence model's (T, vocab).
    outputUnits: output[output.length - 1],
    outputSize: product(output),
    tokenTables,
  };
}

/** What shape inference needs to know about a dataset. */
export interface SampleFacts {
  /** Shape of one sample. */
  sampleShape: readonly number[];
  /** Number of classes, when known before loading (not for uploads). */
  classes?: number;
  /**
   * Token-sequence data: the vocabulary size, every id in `[0, vocabulary)`,
   * when known (not for uploads before loading).
   */
  vocabulary?: number;
}

/**
 * Checks that samples fit the model's input, that every embedding table has
 * a row for each token id, and that the logits cover every class; the
 * trainer runs the same check on the loaded data.
 * @throws {EngineError} `invalid_spec` naming `model.input_shape`, an
 * embedding's `vocab`, or the last layer's `units`.
 */
export function checkDataFitsModel(
  model: {
    inputShape: readonly number[];
    outputUnits: number;
    tokenTables?: readonly TokenTable[];
  },
  data: SampleFacts,
  lastLayer?: number,
): void {
  const width = product(model.inputShape);
  const sampleWidth = product(data.sampleShape);
  if (sampleWidth !== width) {
    throw new EngineError(
      "invalid_spec",
      `model.input_shape [${model.inputShape}] has ${width} values but dataset samples have shape [${data.sampleShape}] (${sampleWidth} values)`,
      { path: ["model", "input_shape"] },
    );
  }
  const vocabulary = data.vocabulary;
  if (vocabulary !== undefined) {
    // Checked here, before the classes: a table too small otherwise fails in
    // tf.gather at the first batch, with nothing that names the layer.
    const small = model.tokenTables?.find((t) => t.vocab < vocabulary);
    if (small) {
      throw specError(
        small.path,
        `the embedding table has ${small.vocab} rows but the dataset's vocabulary has ${vocabulary} tokens (ids 0 to ${
          vocabulary - 1
        }); set vocab to at least ${vocabulary}`,
      );
    }
  }
  if (data.classes !== undefined && data.classes > model.outputUnits) {
    throw new EngineError(
      "invalid_spec",
      `the last layer has ${model.outputUnits} units but the dataset has ${data.classes} classes; give it at least ${data.classes} units`,
      {
        path: lastLayer === undefined
          ? ["model", "layers"]
          : ["model", "layers", lastLayer, "units"],
      },
    );
  }
}
