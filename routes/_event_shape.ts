/** The JSON of one job event, `{seq, type, created_at, data}`, the one shape the API, the CLI and the SSE stream share. */
import { z } from "@hono/zod-openapi";
import { type EventRow, isTerminalStatus } from "../db/mod.ts";

/** One event of a job's log. */
export const JobEventSchema = z.object({
  seq: z.int().openapi({ example: 5 }),
  type: z.string().openapi({
    description:
      'status, lr_range (lr "auto": the range test\'s chosen_lr, steps, lrs, smoothed losses and rule, once before epoch 1), step, epoch, coefficients, staleness (fngd), checkpoint, log or error',
    example: "step",
  }),
  created_at: z.string().openapi({ format: "date-time" }),
  data: z.record(z.string(), z.unknown()).openapi({
    example: {
      epoch: 1,
      step: 120,
      steps: 468,
      loss: 0.73,
      phase: "inversion",
    },
  }),
}).openapi("JobEvent");

/** Row -> JSON. */
export function shapeEvent(row: EventRow): z.infer<typeof JobEventSchema> {
  return {
    seq: row.seq,
    type: row.type,
    created_at: row.createdAt.toISOString(),
    data: row.data,
  };
}

/** The `status` event that ends a job: nothing follows it, so streams close. */
export function isTerminalEvent(row: EventRow): boolean {
  return row.type === "status" && isTerminalStatus(String(row.data.status));
}
