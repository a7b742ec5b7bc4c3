/** The snake_case JSON of one epoch_metrics row, shared by jobs and metrics. */
import { z } from "@hono/zod-openapi";
import type { EpochMetricRow } from "../db/mod.ts";
import { PhaseSchema } from "./_job_schemas.ts";

/** One finished epoch, as in the `epoch` event's data. */
export const EpochMetricSchema = z.object({
  epoch: z.int().openapi({ example: 1 }),
  phase: PhaseSchema,
  steps: z.int(),
  seconds: z.number(),
  train_loss: z.number(),
  val_loss: z.number().nullable(),
  val_accuracy: z.number().nullable(),
  val_reconstruction_error: z.number().optional().openapi({
    description: "autoencoders (target input) only",
  }),
  val_exact_match: z.number().optional().openapi({
    description: "sequences only",
  }),
  val_bleu: z.number().optional().openapi({
    description: "sequences with a vocabulary only",
  }),
  created_at: z.string().openapi({ format: "date-time" }),
}).openapi("EpochMetric");

/** Row -> JSON. */
export function shapeEpochMetric(
  row: EpochMetricRow,
): z.infer<typeof EpochMetricSchema> {
  return {
    epoch: row.epoch,
    // Written by the worker from the engine's Phase.
    phase: row.phase as z.infer<typeof PhaseSchema>,
    steps: row.steps,
    seconds: row.seconds,
    train_loss: row.trainLoss,
    val_loss: row.valLoss,
    val_accuracy: row.valAccuracy,
    // Present only where the task reports a value, so classification rows stay
    // as they were.
    ...optional("val_reconstruction_error", row.valReconstructionError),
    ...optional("val_exact_match", row.valExactMatch),
    ...optional("val_bleu", row.valBleu),
    created_at: row.createdAt.toISOString(),
  };
}

function optional<K extends string>(
  key: K,
  value: number | null,
): { [k in K]?: number } {
  return (value === null ? {} : { [key]: value }) as { [k in K]?: number };
}
