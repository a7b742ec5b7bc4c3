/**
 * The model.json GET /v1/jobs/{id}/model serves, as src/engine/export.ts and
 * src/engine/engine_format.ts write it: the TF.js layers format, or the
 * engine's own format for sequence models, told apart by `format`.
 */
import { z } from "@hono/zod-openapi";
import { responseVariant } from "./_api_job_spec.ts";
import { ModelSpec } from "../src/engine/spec.ts";

/** One group of weights and the file that holds them, as TF.js describes it. */
const WeightsManifestSchema = z.array(z.object({
  paths: z.array(z.string()).openapi({
    description: "files relative to model.json: `weights.bin`, beside it",
  }),
  weights: z.array(
    z.object({
      name: z.string(),
      shape: z.array(z.int()),
      dtype: z.enum(["float32", "int32", "bool", "string", "complex64"]),
    }).catchall(z.unknown()),
  ),
})).openapi("WeightsManifest");

/** A TF.js layers model: tf.loadLayersModel loads it. */
const LayersModelJson = z.object({
  format: z.literal("layers-model"),
  generatedBy: z.string(),
  convertedBy: z.string().nullable(),
  modelTopology: z.record(z.string(), z.unknown()).openapi({
    description:
      "the Keras model config (class_name, config, keras_version, backend)",
  }),
  weightsManifest: WeightsManifestSchema,
}).catchall(z.unknown()).openapi("LayersModelJson");

/** A sequence model in the engine's own format (TF.js layers cannot describe it). */
const EngineModelJson = z.object({
  format: z.literal("fngd-engine-model"),
  generatedBy: z.string(),
  model: responseVariant(ModelSpec),
  loss: z.string().nullable(),
  vocabulary: z.object({
    tokenizer: z.enum(["char", "word"]),
    tokens: z.array(z.string()),
  }).nullable(),
  weightsManifest: WeightsManifestSchema,
}).catchall(z.unknown()).openapi("EngineModelJson");

const ModelJson = z.discriminatedUnion("format", [
  LayersModelJson,
  EngineModelJson,
]).openapi("ModelJson");

/**
 * model.json, whichever format. Typed for the handler as the stored JSON
 * object it serves (the worker wrote it; nothing parses it on the way out);
 * the document is generated from the schema itself.
 */
export const ModelJsonSchema = ModelJson as unknown as z.ZodRecord<
  z.ZodString,
  z.ZodUnknown
>;
