/**
 * The engine's own model format, for models the TF.js layers format cannot
 * describe (sequence models: tfjs-layers has no position embedding or
 * causal multi-head attention with padding masks). Same two files as a
 * layers export: `model.json` holds the validated model spec and a weights
 * manifest laid out as TF.js's (`weightsManifest[0].weights`: name, shape,
 * dtype), `weights.bin` the little-endian float32 values in manifest order.
 * {@link loadEngineModel} rebuilds the model from them.
 */
import * as tf from "@tensorflow/tfjs";
import type { ModelArtifacts } from "./export.ts";
import { SequentialModel } from "./model.ts";
import { ModelSpec } from "./spec.ts";
import type { LossName } from "./spec_fields.ts";
import { EngineError, type Vocabulary } from "./types.ts";
import { Tokenizer } from "./data/tokenizer.ts";

/** `model.json`'s `format` for this format. */
export const ENGINE_MODEL_FORMAT = "fngd-engine-model";

interface WeightEntry {
  name: string;
  shape: number[];
  dtype: "float32";
}

/** Saves `model`'s spec and every variable (running statistics included) by name. */
export function exportEngineModel(
  model: SequentialModel,
  options: { loss?: LossName; vocabulary?: Vocabulary } = {},
): ModelArtifacts {
  const vars = [...model.variables()];
  const weights: WeightEntry[] = vars.map(([name, v]) => ({
    name,
    shape: [...v.shape],
    dtype: "float32",
  }));
  const total = vars.reduce((n, [, v]) => n + v.size, 0);
  const values = new Float32Array(total);
  let at = 0;
  for (const [, v] of vars) {
    values.set(v.dataSync() as Float32Array, at);
    at += v.size;
  }
  return {
    modelJson: {
      format: ENGINE_MODEL_FORMAT,
      generatedBy: "fngd-service",
      model: model.spec,
      loss: options.loss ?? null,
      vocabulary: options.vocabulary ?? null,
      weightsManifest: [{ paths: ["weights.bin"], weights }],
    },
    weightData: new Uint8Array(values.buffer),
  };
}

/**
 * Rebuilds a model saved by {@link exportEngineModel}.
 * @throws {EngineError} `invalid_data` when the format, the spec or the
 * weights do not match.
 */
export function loadEngineModel(artifacts: ModelArtifacts): SequentialModel {
  const json = artifacts.modelJson;
  if (json.format !== ENGINE_MODEL_FORMAT) {
    throw new EngineError(
      "invalid_data",
      `expected model.json format "${ENGINE_MODEL_FORMAT}", got ${
        JSON.stringify(json.format)
      }`,
    );
  }
  const spec = ModelSpec.safeParse(json.model);
  if (!spec.success) {
    throw new EngineError(
      "invalid_data",
      "model.json has no valid model spec",
      {
        cause: spec.error,
      },
    );
  }
  const manifest = json.weightsManifest as { weights: WeightEntry[] }[];
  const entries = manifest?.[0]?.weights ?? [];
  const bytes = artifacts.weightData;
  // Copy: the bytes may not be 4-aligned within their buffer.
  const values = new Float32Array(
    bytes.slice().buffer,
    0,
    Math.floor(bytes.length / 4),
  );
  const model = new SequentialModel(spec.data, 0);
  const byName = new Map(entries.map((e, i) => [e.name, i]));
  const offsets: number[] = [];
  let at = 0;
  for (const e of entries) {
    offsets.push(at);
    at += e.shape.reduce((a, b) => a * b, 1);
  }
  try {
    if (at !== values.length) {
      throw new EngineError(
        "invalid_data",
        `weights.bin holds ${values.length} floats, the manifest ${at}`,
      );
    }
    for (const [name, v] of model.variables()) {
      const i = byName.get(name);
      if (i === undefined || entries[i].shape.join() !== v.shape.join()) {
        throw new EngineError(
          "invalid_data",
          `the weights lack ${name} of shape [${v.shape}]`,
        );
      }
      const data = values.subarray(offsets[i], offsets[i] + v.size);
      tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
    }
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}

/** A model loaded with the tokenizer it was trained with. */
export interface LoadedTranslator {
  model: SequentialModel;
  /** Null for exports written without a vocabulary. */
  tokenizer: Tokenizer | null;
}

/**
 * {@link loadEngineModel} plus the tokenizer of the vocabulary saved in
 * `model.json`, for {@link translate} (translate.ts).
 * @throws {EngineError} `invalid_data` as {@link loadEngineModel}, or when
 * the saved vocabulary is invalid.
 */
export function loadEngineTranslator(
  artifacts: ModelArtifacts,
): LoadedTranslator {
  const vocabulary = artifacts.modelJson.vocabulary as Vocabulary | null;
  const tokenizer = vocabulary ? new Tokenizer(vocabulary) : null;
  return { model: loadEngineModel(artifacts), tokenizer };
}
