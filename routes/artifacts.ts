/**
 * A job's downloadable artifacts besides the final model (routes/model.ts):
 * GET /v1/jobs/{id}/metrics.csv, the stored step events as CSV.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { type Db, listJobEvents } from "../db/mod.ts";
import {
  DATABASE_UNAVAILABLE_RESPONSE,
  MISDIRECTED_RESPONSE,
  problemResponse,
} from "./problem.ts";
import { findJob, JobIdParam } from "./_job_lookup.ts";
import { type AppDeps, BEARER_SECURITY, newRouter } from "./_router.ts";
import { downloadHeaders } from "./model.ts";

const errors = {
  401: problemResponse("missing or invalid API key"),
  421: MISDIRECTED_RESPONSE,
  404: problemResponse("no such job for this tenant"),
  503: DATABASE_UNAVAILABLE_RESPONSE,
};

/** The CSV's columns: a step event's fields, then the event's own. */
export const METRICS_CSV_COLUMNS = [
  "epoch",
  "step",
  "steps",
  "loss",
  "phase",
  "lr",
  "seq",
  "created_at",
] as const;

const metricsCsv = createRoute({
  method: "get",
  path: "/v1/jobs/{id}/metrics.csv",
  operationId: "getJobMetricsCsv",
  tags: ["results"],
  summary: "The job's step losses as CSV, one row per stored step event",
  description: `Streamed, oldest first, header \`${
    METRICS_CSV_COLUMNS.join(",")
  }\`. Step events are stored at most about twice a second (and for each epoch's last step), so long epochs are sampled; per-epoch metrics are at GET /v1/jobs/{id}/metrics. A job with no steps yet gives the header alone.`,
  security: BEARER_SECURITY,
  request: { params: JobIdParam },
  responses: {
    200: {
      description: "text/csv with a header row",
      content: { "text/csv": { schema: z.string() } },
    },
    ...errors,
  },
});

/** Rows read per query while streaming. */
const PAGE = 1000;

/** One CSV field: quoted when it holds a comma, quote or line break. */
function csvField(value: unknown): string {
  if (value === null || value === undefined) return "";
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The step events of `jobId` as CSV lines, read a page at a time. */
function stepsCsv(db: Db, jobId: string): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let after: number | undefined;
  return new ReadableStream({
    start(controller) {
      controller.enqueue(encoder.encode(METRICS_CSV_COLUMNS.join(",") + "\n"));
    },
    async pull(controller) {
      if (after === Infinity) return controller.close();
      const rows = await listJobEvents(db, jobId, {
        after: after ?? 0,
        limit: PAGE,
        type: "step",
      });
      if (rows.length < PAGE) after = Infinity;
      else after = rows.at(-1)!.seq;
      if (rows.length === 0) return controller.close();
      const lines = rows.map((row) => {
        const d = row.data;
        return [
          d.epoch,
          d.step,
          d.steps,
          d.loss,
          d.phase,
          d.lr,
          row.seq,
          row.createdAt.toISOString(),
        ].map(csvField).join(",");
      });
      controller.enqueue(encoder.encode(lines.join("\n") + "\n"));
    },
  });
}

/** The artifact routes. */
export function artifactRoutes({ db }: AppDeps) {
  return newRouter()
    .openapi(metricsCsv, async (c) => {
      const job = await findJob(db, c.get("tenant"), c.req.valid("param").id);
      return c.body(
        stepsCsv(db, job.id),
        200,
        downloadHeaders("text/csv; charset=utf-8", `metrics-${job.id}.csv`),
      );
    });
}
