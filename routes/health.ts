/** Liveness, readiness and Prometheus metrics; no auth, so probes need no key. */
import { createRoute, z } from "@hono/zod-openapi";
import {
  checkReady,
  countJobsByStatus,
  type Db,
  JOB_STATUSES,
} from "../db/mod.ts";
import {
  ApiError,
  DATABASE_UNAVAILABLE_RESPONSE,
  problemResponse,
} from "./problem.ts";
import type { HttpCounters } from "./_http_counters.ts";
import { type AppDeps, newRouter } from "./_router.ts";

const Ok = z.object({ status: z.literal("ok") }).openapi("Ok");

const healthz = createRoute({
  method: "get",
  path: "/healthz",
  summary: "Liveness: the process answers",
  responses: {
    200: {
      description: "alive",
      content: { "application/json": { schema: Ok } },
    },
  },
});

const readyz = createRoute({
  method: "get",
  path: "/readyz",
  summary: "Readiness: the database answers and every migration is applied",
  responses: {
    200: {
      description: "ready",
      content: { "application/json": { schema: Ok } },
    },
    503: {
      ...problemResponse(
        "database unreachable or migrations missing (code not_ready)",
      ),
      headers: DATABASE_UNAVAILABLE_RESPONSE.headers,
    },
  },
});

const metrics = createRoute({
  method: "get",
  path: "/metrics",
  summary: "Prometheus text: jobs by status, HTTP requests, open SSE streams",
  responses: {
    200: {
      description: "text exposition format 0.0.4",
      content: { "text/plain": { schema: z.string() } },
    },
    503: DATABASE_UNAVAILABLE_RESPONSE,
  },
});

const escapeLabel = (v: string) =>
  v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");

async function renderMetrics(db: Db, counters: HttpCounters): Promise<string> {
  const lines: string[] = [];
  const counts = await countJobsByStatus(db);
  lines.push("# HELP fngd_jobs Jobs by status, all tenants.");
  lines.push("# TYPE fngd_jobs gauge");
  for (const status of JOB_STATUSES) {
    lines.push(`fngd_jobs{status="${status}"} ${counts[status] ?? 0}`);
  }
  lines.push(
    "# HELP fngd_http_requests_total HTTP requests served by this process.",
  );
  lines.push("# TYPE fngd_http_requests_total counter");
  for (const s of counters.entries()) {
    lines.push(
      `fngd_http_requests_total{method="${escapeLabel(s.method)}",route="${
        escapeLabel(s.route)
      }",status="${s.status}"} ${s.count}`,
    );
  }
  lines.push("# HELP fngd_sse_streams_open SSE event streams open now.");
  lines.push("# TYPE fngd_sse_streams_open gauge");
  lines.push(`fngd_sse_streams_open ${counters.openStreams}`);
  return lines.join("\n") + "\n";
}

/** The health and metrics routes. */
export function healthRoutes({ db, counters, breaker }: AppDeps) {
  const notReady = (cause?: unknown) =>
    new ApiError(
      "not_ready",
      "the database is unreachable or its migrations are not all applied",
      {
        cause,
        headers: { "retry-after": String(breaker.retryAfterSeconds) },
      },
    );
  return newRouter()
    .openapi(healthz, (c) => c.json({ status: "ok" as const }, 200))
    .openapi(readyz, async (c) => {
      // While the breaker is open this answers at once, or runs its probe.
      await breaker.admit().catch((err) => {
        throw notReady(err);
      });
      if (!(await checkReady(db))) throw notReady();
      return c.json({ status: "ok" as const }, 200);
    })
    .openapi(
      metrics,
      async (c) =>
        c.text(await renderMetrics(db, counters), 200, {
          // Spelled as hono spells its default, so this one replaces it.
          "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
        }),
    );
}
