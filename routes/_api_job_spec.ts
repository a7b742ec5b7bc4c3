/**
 * The job body the API accepts: the engine's JobSpec, with the dataset narrowed
 * to the forms a server can resolve. Path-based csv/idx datasets would read the
 * server's disk, so they stay CLI-only and are refused with a pointer to uploads.
 */
import { z } from "@hono/zod-openapi";
import {
  JobSpec,
  ModelSpec,
  NamedDatasetSpec,
  OptimizerSpec,
  SyntheticDatasetSpec,
  TranslationDatasetSpec,
  UploadedDatasetSpec,
} from "../src/engine/spec.ts";

function datasetMessage(input: unknown): string {
  const obj = typeof input === "object" && input !== null
    ? input as Record<string, unknown>
    : {};
  if ("format" in obj || "path" in obj || "images" in obj) {
    return 'csv, idx and parallel_text datasets given by file path are CLI only; upload the files with POST /v1/datasets and pass {"id": "<dataset id>"}';
  }
  return 'expected {"name": "synthetic", ...}, {"name": "synthetic-translation", ...}, {"name": "fashion-mnist" | "mnist"} or {"id": "<uploaded dataset id>"}';
}

/** Dataset forms the API accepts. */
export const ApiDatasetSpec = z.union(
  [
    SyntheticDatasetSpec,
    TranslationDatasetSpec,
    NamedDatasetSpec,
    UploadedDatasetSpec,
  ],
  { error: (issue) => datasetMessage(issue.input) },
).openapi("DatasetSpec");

// The engine's schemas are built with plain zod, and zod 4 gives a schema its
// methods when it is constructed: one built before @hono/zod-openapi loaded
// has no `.openapi`. A clone made here always has it.

/** An optimizer spec, named so that jobs and comparisons share one component. */
export const ApiOptimizerSpec = OptimizerSpec.clone().openapi("OptimizerSpec");

/** A model spec, named so that jobs and comparisons share one component. */
export const ApiModelSpec = ModelSpec.clone().openapi("ModelSpec");

/** POST /v1/jobs body. */
export const ApiJobSpec = JobSpec.safeExtend({
  model: ApiModelSpec,
  dataset: ApiDatasetSpec,
  optimizer: ApiOptimizerSpec,
})
  .openapi(
    "JobSpec",
    {
      example: {
        model: {
          input_shape: [64],
          layers: [
            { type: "dense", units: 64, activation: "relu" },
            { type: "dense", units: 10 },
          ],
        },
        dataset: {
          name: "synthetic",
          samples: 4096,
          features: 64,
          classes: 10,
        },
        optimizer: { name: "fngd", lr: 0.1, momentum: 0.9, damping: 1.0 },
        epochs: 3,
        batch_size: 128,
      },
    },
  );

/** The validated body, defaults filled in. */
export type ApiJobSpec = z.infer<typeof ApiJobSpec>;
