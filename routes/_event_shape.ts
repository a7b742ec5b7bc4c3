/**
 * The JSON of one job event, `{seq, type, created_at, data}`, the one shape the
 * API, the CLI and the SSE stream share: a union discriminated by `type`, so
 * that a generated client narrows `data` by checking `type`.
 */
import { z } from "@hono/zod-openapi";
import { type EventRow, isTerminalStatus } from "../db/mod.ts";
import {
  CheckpointEventDataSchema,
  CoefficientsEventDataSchema,
  EpochEventDataSchema,
  JobErrorSchema,
  LogEventDataSchema,
  LrRangeEventDataSchema,
  StalenessEventDataSchema,
  StatusEventDataSchema,
  StepEventDataSchema,
} from "./_job_schemas.ts";

/**
 * The `type` of a failed job's error event. Not `error`: EventSource fires
 * its own `error` event on every lost connection, and a named SSE event of
 * that name would be indistinguishable from it.
 */
export const JOB_ERROR_EVENT = "job_error";

/** The event types of a job's log, and their data. */
const EVENT_DATA = {
  status: StatusEventDataSchema,
  lr_range: LrRangeEventDataSchema,
  step: StepEventDataSchema,
  epoch: EpochEventDataSchema,
  coefficients: CoefficientsEventDataSchema,
  staleness: StalenessEventDataSchema,
  checkpoint: CheckpointEventDataSchema,
  log: LogEventDataSchema,
  [JOB_ERROR_EVENT]: JobErrorSchema,
} as const;

/** Every event type, in the order the reference lists them. */
export type JobEventType = keyof typeof EVENT_DATA;

/** Component names of the union's members: `status` -> `StatusEvent`. */
function memberName(type: string): string {
  return type.split("_").map((w) => w[0].toUpperCase() + w.slice(1)).join(
    "",
  ) + "Event";
}

/** One member of the union: the common fields with one type and its data. */
function eventOf<T extends JobEventType>(type: T) {
  return z.object({
    seq: z.int().openapi({ example: 5 }),
    type: z.literal(type),
    created_at: z.string().openapi({ format: "date-time" }),
    data: EVENT_DATA[type] as (typeof EVENT_DATA)[T],
  }).openapi(memberName(type));
}

/** Each event type's schema, for whoever needs one (comparison events). */
export const JOB_EVENT_SCHEMAS = {
  status: eventOf("status"),
  lr_range: eventOf("lr_range"),
  step: eventOf("step"),
  epoch: eventOf("epoch"),
  coefficients: eventOf("coefficients"),
  staleness: eventOf("staleness"),
  checkpoint: eventOf("checkpoint"),
  log: eventOf("log"),
  [JOB_ERROR_EVENT]: eventOf(JOB_ERROR_EVENT),
};

/** One event of a job's log. */
export const JobEventSchema = z.discriminatedUnion(
  "type",
  Object.values(JOB_EVENT_SCHEMAS) as [
    (typeof JOB_EVENT_SCHEMAS)[JobEventType],
    ...(typeof JOB_EVENT_SCHEMAS)[JobEventType][],
  ],
).openapi("JobEvent", {
  description:
    "status (every status change; the last is succeeded, failed or cancelled), lr_range (lr auto: the range test, once before epoch 1), step, epoch, coefficients, staleness (fngd), checkpoint, log, and job_error (a failed job's error, just before its failed status)",
});

/** A job event as the API sends it. */
export type JobEventJson = z.infer<typeof JobEventSchema>;

/**
 * The type a row is served as. Rows written before the error event was
 * renamed say `error`; they are served under the new name, so clients never
 * see both.
 */
function servedType(type: string): string {
  return type === "error" ? JOB_ERROR_EVENT : type;
}

/** Row -> JSON. The worker wrote `data` as the engine typed it. */
export function shapeEvent(row: EventRow): JobEventJson {
  return {
    seq: row.seq,
    type: servedType(row.type),
    created_at: row.createdAt.toISOString(),
    data: row.data,
  } as JobEventJson;
}

/** The `status` event that ends a job: nothing follows it, so streams close. */
export function isTerminalEvent(row: EventRow): boolean {
  return row.type === "status" && isTerminalStatus(String(row.data.status));
}
