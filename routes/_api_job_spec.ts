/**
 * The job body the API accepts: the engine's JobSpec, with the dataset narrowed
 * to the forms a server can resolve. Path-based csv/idx datasets would read the
 * server's disk, so they stay CLI-only and are refused with a pointer to uploads.
 */
import { z } from "@hono/zod-openapi";
import {
  JobSpec,
  LayerSpec,
  ModelSpec,
  NamedDatasetSpec,
  OptimizerSpec,
  ScheduleSpec,
  SyntheticDatasetSpec,
  TranslationDatasetSpec,
  UploadedDatasetSpec,
} from "../src/engine/spec.ts";
import { WEBHOOK_EVENTS } from "../db/mod.ts";
import { schemaVariant } from "./_schema_variants.ts";

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
const DatasetForms = z.union(
  [
    SyntheticDatasetSpec,
    TranslationDatasetSpec,
    NamedDatasetSpec,
    UploadedDatasetSpec,
  ],
  { error: (issue) => datasetMessage(issue.input) },
);

/** The job body before variants: the engine's spec with the API's datasets. */
export const JobBody = JobSpec.safeExtend({ dataset: DatasetForms });

/**
 * The components the spec's variants are split into, by base name (the job
 * spec itself is named below, where its example is attached).
 */
const SPEC_COMPONENTS = new Map<z.ZodType, string>([
  [ModelSpec, "ModelSpec"],
  [LayerSpec, "LayerSpec"],
  [DatasetForms, "DatasetSpec"],
  [OptimizerSpec, "OptimizerSpec"],
  [ScheduleSpec, "ScheduleSpec"],
]);

/** `schema` as a request may send it (defaults optional): `<name>Input` components. */
export function requestVariant<S extends z.ZodType>(schema: S): S {
  return schemaVariant(schema, "input", SPEC_COMPONENTS);
}

/** `schema` as a response holds it (defaults filled in, so required). */
export function responseVariant<S extends z.ZodType>(
  schema: S,
): z.ZodType<z.output<S>, z.output<S>> {
  return schemaVariant(schema, "output", SPEC_COMPONENTS) as z.ZodType<
    z.output<S>,
    z.output<S>
  >;
}

/** The dataset forms a request may send. */
export const ApiDatasetSpec = requestVariant(DatasetForms);

/** An optimizer spec as a request sends it (jobs and comparisons share it). */
export const ApiOptimizerSpec = requestVariant(OptimizerSpec);

/** An optimizer spec as stored, every default filled in. */
export const ApiOptimizerSpecOutput = responseVariant(OptimizerSpec);

/** A job's webhook as a request gives it. */
const WebhookRequestSchema = z.strictObject({
  url: z.string().max(2048).openapi({
    description:
      "https URL that receives a POST per event, signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature). Private, loopback and link-local addresses are refused unless WEBHOOK_ALLOW_PRIVATE allows them; http only to loopback with ALLOW_HTTP_WEBHOOKS",
    example: "https://example.com/hooks/fngd",
  }),
  events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).max(WEBHOOK_EVENTS.length)
    .optional().openapi({
      description:
        "which events to post: status changes (running, succeeded, failed, cancelled) and epoch (each finished epoch); default the terminal ones, succeeded, failed and cancelled",
    }),
}).openapi("WebhookRequest");

/** A job spec as a request sends it (defaults optional). */
export const ApiJobSpec = requestVariant(JobBody);

/**
 * POST /v1/jobs body, the JobSpecInput component: the spec, and optionally
 * a webhook, which is kept apart from the stored spec.
 */
export const ApiJobCreateBody = ApiJobSpec.safeExtend({
  webhook: WebhookRequestSchema.optional(),
}).openapi("JobSpecInput", {
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
});

/** A job's spec as responses give it: the JobSpec component. */
export const ApiJobSpecOutput = responseVariant(JobBody).openapi("JobSpec");

/** The validated body, defaults filled in. */
export type ApiJobSpec = z.infer<typeof ApiJobSpec>;
