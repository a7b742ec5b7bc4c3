/**
 * GET /v1/jobs/{id}/metrics (one row per finished epoch of a job) and
 * GET /metrics (the service's Prometheus metrics, behind METRICS_TOKEN once
 * API keys are on: routes/_metrics_auth.ts).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { listEpochMetrics } from "../db/mod.ts";
import {
  DATABASE_UNAVAILABLE_RESPONSE,
  MISDIRECTED_RESPONSE,
  problemResponse,
} from "./problem.ts";
import { registerDbMetrics } from "./_db_metrics.ts";
import { findJob, JobIdParam } from "./_job_lookup.ts";
import { EpochMetricSchema, shapeEpochMetric } from "./_metric_shape.ts";
import { type AppDeps, BEARER_SECURITY, newRouter } from "./_router.ts";

const metrics = createRoute({
  method: "get",
  path: "/v1/jobs/{id}/metrics",
  operationId: "listJobMetrics",
  tags: ["results"],
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

/** The security scheme of GET /metrics, apart from tenant keys. */
const METRICS_SECURITY = [{ metricsToken: [] }];

const prometheus = createRoute({
  method: "get",
  path: "/metrics",
  operationId: "metrics",
  tags: ["service"],
  summary:
    "Prometheus text: HTTP requests and latency by route, jobs by status, queue depth, claim latency, training steps/s by optimizer, open SSE streams",
  description:
    "With API_KEYS set, needs `Authorization: Bearer <METRICS_TOKEN>` (tenant keys are refused with 403), and is disabled (404 metrics_disabled) while METRICS_TOKEN is unset. With auth off it is open unless METRICS_TOKEN is set.",
  security: METRICS_SECURITY,
  responses: {
    200: {
      description: "text exposition format 0.0.4",
      content: { "text/plain": { schema: z.string() } },
    },
    401: problemResponse("no token, or not METRICS_TOKEN (unauthorized)"),
    403: problemResponse(
      "a tenant API key instead of METRICS_TOKEN (forbidden)",
    ),
    404: problemResponse(
      "API_KEYS is set and METRICS_TOKEN is not (metrics_disabled)",
    ),
    421: MISDIRECTED_RESPONSE,
    503: DATABASE_UNAVAILABLE_RESPONSE,
  },
});

/** The per-job metrics route and GET /metrics. */
export function metricRoutes({ db, counters }: AppDeps) {
  registerDbMetrics(counters.registry, db);
  const router = newRouter();
  router.openAPIRegistry.registerComponent("securitySchemes", "metricsToken", {
    type: "http",
    scheme: "bearer",
    description:
      "METRICS_TOKEN, for GET /metrics only; a tenant API key does not open it",
  });
  return router
    .openapi(metrics, async (c) => {
      const job = await findJob(db, c.get("tenant"), c.req.valid("param").id);
      const rows = await listEpochMetrics(db, job.id);
      return c.json({ data: rows.map(shapeEpochMetric) }, 200);
    })
    .openapi(
      prometheus,
      async (c) =>
        c.text(await counters.registry.metrics(), 200, {
          // Spelled as hono spells its default, so this one replaces it.
          "Content-Type": counters.registry.contentType,
        }),
    );
}
