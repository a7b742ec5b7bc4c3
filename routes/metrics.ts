/** GET /v1/jobs/{id}/metrics: one row per finished epoch. */
import { createRoute, z } from "@hono/zod-openapi";
import { listEpochMetrics } from "../db/mod.ts";
import {
  DATABASE_UNAVAILABLE_RESPONSE,
  MISDIRECTED_RESPONSE,
  problemResponse,
} from "./problem.ts";
import { findJob, JobIdParam } from "./_job_lookup.ts";
import { EpochMetricSchema, shapeEpochMetric } from "./_metric_shape.ts";
import { type AppDeps, BEARER_SECURITY, newRouter } from "./_router.ts";

const metrics = createRoute({
  method: "get",
  path: "/v1/jobs/{id}/metrics",
  summary: "Per-epoch metrics, epoch 1 first",
  security: BEARER_SECURITY,
  request: { params: JobIdParam },
  responses: {
    200: {
      description: "the finished epochs",
      content: {
        "application/json": {
          schema: z.object({ data: z.array(EpochMetricSchema) }).openapi(
            "EpochMetricList",
          ),
        },
      },
    },
    401: problemResponse("missing or invalid API key"),
    421: MISDIRECTED_RESPONSE,
    404: problemResponse("no such job for this tenant"),
    503: DATABASE_UNAVAILABLE_RESPONSE,
  },
});

/** The metrics route. */
export function metricRoutes({ db }: AppDeps) {
  return newRouter().openapi(metrics, async (c) => {
    const job = await findJob(db, c.get("tenant"), c.req.valid("param").id);
    const rows = await listEpochMetrics(db, job.id);
    return c.json({ data: rows.map(shapeEpochMetric) }, 200);
  });
}
