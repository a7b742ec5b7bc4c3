/**
 * Builds the HTTP API: browser guards (Host, Origin, CORS), auth, body
 * limits, the resource routes, and the one error handler that renders every
 * failure as problem+json.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { DbCircuitBreaker } from "../db/mod.ts";
import { createDb, type Db, isConnectionError } from "../db/mod.ts";
import { authMiddleware } from "../routes/_auth.ts";
import {
  corsMiddleware,
  hostGuard,
  jsonShapeGuard,
  originGuard,
} from "../routes/_browser_guard.ts";
import { EventWakeups } from "../routes/_event_wakeups.ts";
import { HttpCounters } from "../routes/_http_counters.ts";
import type { AppEnv } from "../routes/_router.ts";
import { coefficientRoutes } from "../routes/coefficients.ts";
import { comparisonEventRoutes } from "../routes/comparison_events.ts";
import { comparisonRoutes } from "../routes/comparisons.ts";
import { datasetRoutes } from "../routes/datasets.ts";
import { docRoutes, OPENAPI_INFO } from "../routes/docs.ts";
import { eventRoutes } from "../routes/events.ts";
import { healthRoutes } from "../routes/health.ts";
import { jobRoutes } from "../routes/jobs.ts";
import { metricRoutes } from "../routes/metrics.ts";
import { modelRoutes } from "../routes/model.ts";
import {
  type Config,
  ConfigError,
  isLoopbackHost,
  loadConfig,
} from "./config.ts";
import { ApiError, renderProblem } from "./problem.ts";

/** What createApp needs. */
export interface AppOptions {
  db: Db;
  config: Config;
  /** Where the "auth is off" notice goes; tests silence it. */
  log?: (message: string) => void;
}

/** Maps hono's own exceptions (bad JSON, 415 from the media type gate) to codes. */
function fromHttpException(err: HTTPException): ApiError {
  switch (err.status) {
    case 400:
      return /json/i.test(err.message)
        ? new ApiError(
          "malformed_json",
          "the request body is not valid JSON",
          { cause: err },
        )
        : new ApiError("bad_request", err.message || "bad request", {
          cause: err,
        });
    case 413:
      return new ApiError(
        "payload_too_large",
        "the request body is too large",
        {
          cause: err,
        },
      );
    case 415:
      return new ApiError(
        "unsupported_media_type",
        "the request's Content-Type is not one this operation accepts",
        { cause: err },
      );
    default:
      return new ApiError("bad_request", err.message, { cause: err });
  }
}

/**
 * The one error handler: ApiError as is, hono's errors mapped, a lost or
 * refused database connection 503 (and the breaker told), the rest 500.
 */
function errorHandler(
  breaker: DbCircuitBreaker,
): (err: Error, c: Context) => Response {
  return (err, c) => {
    if (err instanceof ApiError) return renderProblem(err);
    if (err instanceof HTTPException) {
      return renderProblem(fromHttpException(err));
    }
    if (isConnectionError(err)) {
      // Not logged per request: the breaker logs the outage once.
      breaker.record(err);
      return renderProblem(
        new ApiError(
          "database_unavailable",
          `the database is unreachable; retry in ${breaker.retryAfterSeconds} s`,
          {
            cause: err,
            headers: { "retry-after": String(breaker.retryAfterSeconds) },
          },
        ),
      );
    }
    // Unknown: log everything here, tell the client nothing about internals.
    console.error(`unhandled error on ${c.req.method} ${c.req.path}:`, err);
    return renderProblem(
      new ApiError(
        "internal",
        "an unexpected error occurred; it has been logged",
      ),
    );
  };
}

function limit(maxSize: number, what: string): MiddlewareHandler {
  return bodyLimit({
    maxSize,
    onError: () => {
      throw new ApiError(
        "payload_too_large",
        `${what} larger than ${maxSize} bytes`,
      );
    },
  });
}

/**
 * The API app. Without API keys it serves one tenant, and only on loopback.
 * @throws {ConfigError} when API_KEYS is unset and HOST is not loopback.
 */
export async function createApp(
  { db, config, log = console.log }: AppOptions,
): Promise<OpenAPIHono<AppEnv>> {
  if (!config.apiKeys) {
    if (!isLoopbackHost(config.host)) {
      throw new ConfigError(
        `API_KEYS is unset, so authentication is off, which is allowed only on a loopback HOST; ` +
          `HOST is "${config.host}". Set API_KEYS=key:tenant[,key:tenant...] or HOST=127.0.0.1`,
      );
    }
    log(
      `auth is off (API_KEYS unset): every request is tenant "default"; serving on loopback only`,
    );
  }
  const counters = new HttpCounters();
  // NOTIFY only reaches us from a real Postgres; the embedded one (used when
  // DATABASE_URL is unset) never delivers it, so streams just poll there.
  const wakeups = new EventWakeups(db, config.databaseUrl !== undefined);
  const breaker = new DbCircuitBreaker(db, { log });
  const deps = { db, config, counters, wakeups, breaker };
  const app = new OpenAPIHono<AppEnv>();
  app.onError(errorHandler(breaker));
  app.notFound((c) => {
    throw new ApiError(
      "not_found",
      `no route for ${c.req.method} ${c.req.path}`,
    );
  });
  app.use("*", counters.middleware());
  // Before everything that reads or writes: keys already keep a rebinding
  // page out, so the Host check is only needed while auth is off.
  if (!config.apiKeys) app.use("*", hostGuard(config));
  // Preflights carry no credentials, so CORS answers them before auth.
  const corsMw = corsMiddleware(config);
  if (corsMw) app.use("*", corsMw);
  app.use("*", originGuard(config));
  app.use("/v1/*", await authMiddleware(config.apiKeys));
  // While the database is known down, answer 503 at once instead of letting
  // the request wait out a connect timeout (db/circuit_breaker.ts).
  const dbGate: MiddlewareHandler = async (_c, next) => {
    await breaker.admit();
    await next();
  };
  app.use("/v1/*", dbGate);
  app.use("/metrics", dbGate);
  // Uploads get their own, larger limit; every other body is JSON.
  const uploadLimit = limit(config.maxUploadBytes, "upload");
  const jsonLimit = limit(config.maxBodyBytes, "request body");
  app.use(
    "/v1/*",
    (c, next) =>
      c.req.path === "/v1/datasets" ? uploadLimit(c, next) : jsonLimit(c, next),
  );
  app.use("/v1/*", jsonShapeGuard());
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "an API key from API_KEYS (key:tenant pairs)",
  });
  for (
    const routes of [
      jobRoutes,
      eventRoutes,
      metricRoutes,
      coefficientRoutes,
      modelRoutes,
      comparisonRoutes,
      comparisonEventRoutes,
      datasetRoutes,
      healthRoutes,
    ]
  ) {
    app.route("/", routes(deps));
  }
  app.route("/", docRoutes(() => app.getOpenAPI31Document(OPENAPI_INFO)));
  return app;
}

/** An app built from the environment, with the db handle its owner must close. */
export interface EnvApp {
  app: OpenAPIHono<AppEnv>;
  db: Db;
  config: Config;
}

/**
 * Loads the config and connects to DATABASE_URL (the API alone; migrations
 * are `deno task start`'s job, and /readyz reports when they are missing).
 * @throws {ConfigError} on a bad environment or a missing DATABASE_URL.
 */
export async function createAppFromEnv(): Promise<EnvApp> {
  const config = loadConfig();
  if (!config.databaseUrl) {
    throw new ConfigError(
      "DATABASE_URL is unset: the API alone needs an existing Postgres " +
        "(`deno task start` runs one embedded)",
    );
  }
  const db = createDb(config.databaseUrl, {
    connectTimeoutSeconds: config.dbConnectTimeoutMs &&
      config.dbConnectTimeoutMs / 1000,
  });
  return { app: await createApp({ db, config }), db, config };
}

// Under `deno serve src/app.ts` this module is the main one: build at once so
// a bad environment stops the server at start, not at the first request.
let served: Promise<EnvApp> | undefined = import.meta.main
  ? createAppFromEnv()
  : undefined;

/** `deno serve src/app.ts` (HOST and PORT come from deno serve's flags there). */
export default {
  async fetch(req: Request, info: Deno.ServeHandlerInfo): Promise<Response> {
    served ??= createAppFromEnv();
    return (await served).app.fetch(req, info);
  },
} satisfies Deno.ServeDefaultExport;
