/**
 * Liveness and readiness; no auth, so probes need no key. Prometheus metrics
 * are in metrics.ts.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { checkReady } from "../db/mod.ts";
import {
  ApiError,
  DATABASE_UNAVAILABLE_RESPONSE,
  MISDIRECTED_RESPONSE,
  problemResponse,
} from "./problem.ts";
import { type AppDeps, newRouter } from "./_router.ts";

const Ok = z.object({ status: z.literal("ok") }).openapi("Ok");

const healthz = createRoute({
  method: "get",
  path: "/healthz",
  operationId: "health",
  tags: ["service"],
  summary: "Liveness: the process answers",
  security: [],
  responses: {
    200: {
      description: "alive",
      content: { "application/json": { schema: Ok } },
    },
    421: MISDIRECTED_RESPONSE,
  },
});

const readyz = createRoute({
  method: "get",
  path: "/readyz",
  operationId: "ready",
  tags: ["service"],
  summary: "Readiness: the database answers and every migration is applied",
  security: [],
  responses: {
    421: MISDIRECTED_RESPONSE,
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

/** The health routes. */
export function healthRoutes({ db, breaker }: AppDeps) {
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
    });
}
