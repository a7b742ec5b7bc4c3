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
  /** Logits per sample. */
  outputUnits: number;
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

/**
 * Infers every layer's shapes and weight sites from `spec`, allocating no
 * tensor.
 * @throws {EngineError} `invalid_spec` whose `path` names the offending layer
 * field: a dense layer on a non-flat input, a conv or pool on a non-image, a
 * kernel or pool that does not fit its input, or a last layer that is not a
 * dense layer giving a vector of logits, or a strided conv with wide patches
 * after the first trainable layer (whose patch extraction has no gradient).
 */
export function inferModelShapes(spec: ModelSpec): ModelShapes {
  let input = [...spec.input_shape];
  const layers: PlannedLayer[] = [];
  const sites: PlannedSite[] = [];
  const ordinals = new Map<string, number>();
  spec.layers.forEach((l, index) => {
    const at: SpecPath = ["model", "layers", index];
    // Names count layers of one kind: dense_1, dense_2, conv2d_1.
    const ordinal = (ordinals.get(l.type) ?? 0) + 1;
    ordinals.set(l.type, ordinal);
    const name = `${l.type}_${ordinal}`;
    const inputGradient = sites.length > 0;
    const fields = plannerOf(l.type).plan(l, {
      index,
      input,
      inputGradient,
      site: (shape, part) => {
        const site = {
          ...shape,
          index: sites.length,
          name: part === undefined ? name : `${name}/${part}`,
          layer: index,
        };
        sites.push(site);
        return site;
      },
      fail: (message, field) =>
        specError(field === undefined ? at : [...at, field], message),
    });
    layers.push({ ...fields, index, input: [...input], inputGradient });
    input = fields.output;
  });
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
    outputUnits: input[0],
  };
}

/** What shape inference needs to know about a dataset. */
export interface SampleFacts {
  /** Shape of one sample. */
  sampleShape: readonly number[];
  /** Number of classes, when known before loading (not for uploads). */
  classes?: number;
}

/**
 * Checks that samples fit the model's input and that the logits cover every
 * class; the trainer runs the same check on the loaded data.
 * @throws {EngineError} `invalid_spec` naming `model.input_shape` or the last
 * layer's `units`.
 */
export function checkDataFitsModel(
  model: { inputShape: readonly number[]; outputUnits: number },
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
