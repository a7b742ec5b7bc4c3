/**
 * Builds the HTTP API: browser guards (Host, Origin, CORS), auth, body
 * limits, the resource routes, and the one error handler that renders every
 * failure as problem+json. The entry points serve it (src/main.ts,
 * src/api_main.ts, src/serve.ts).
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import {
  type BlobStore,
  type Db,
  DbCircuitBreaker,
  isConnectionError,
} from "../db/mod.ts";
import { authMiddleware } from "./_auth.ts";
import {
  corsMiddleware,
  hostGuard,
  isLoopbackHost,
  jsonShapeGuard,
  originGuard,
} from "./_browser_guard.ts";
import { EventWakeups } from "./_event_wakeups.ts";
import { HttpCounters } from "./_http_counters.ts";
import { metricsAuth } from "./_metrics_auth.ts";
import { requestTimeout } from "./_request_timeout.ts";
import { redactToken, StreamTokens } from "./_stream_token.ts";
import type { AppEnv } from "./_router.ts";
import { coefficientRoutes } from "./coefficients.ts";
import { comparisonEventRoutes } from "./comparison_events.ts";
import { comparisonRoutes } from "./comparisons.ts";
import { artifactRoutes } from "./artifacts.ts";
import { checkpointRoutes } from "./checkpoints.ts";
import { assetRoutes } from "./assets.ts";
import { dashboardRoutes } from "./dashboard.tsx";
import { datasetRoutes } from "./datasets.ts";
import { docRoutes, OPENAPI_INFO } from "./docs.ts";
import { eventRoutes } from "./events.ts";
import { healthRoutes } from "./health.ts";
import { jobRoutes } from "./jobs.ts";
import { metricRoutes } from "./metrics.ts";
import { modelRoutes } from "./model.ts";
import { type RouteOptions, RouteOptionsError } from "./options.ts";
import { ApiError, renderProblem } from "./problem.ts";

export type { AppEnv } from "./_router.ts";
export { OPENAPI_INFO } from "./docs.ts";
export { type RouteOptions, RouteOptionsError } from "./options.ts";

/** What createApp needs. */
export interface AppOptions {
  db: Db;
  /** Where uploads and exported models are stored (src/blob_store.ts). */
  blobs: BlobStore;
  options: RouteOptions;
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
    console.error(
      `unhandled error on ${c.req.method} ${c.req.path}${
        redactToken(new URL(c.req.url).search)
      }:`,
      err,
    );
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

/** 413 when the declared Content-Length is past `maxSize`; reads nothing. */
function declaredLengthLimit(maxSize: number, what: string): MiddlewareHandler {
  return async (c, next) => {
    const declared = Number(c.req.header("content-length") ?? "0");
    if (declared > maxSize) {
      throw new ApiError(
        "payload_too_large",
        `${what} larger than ${maxSize} bytes`,
      );
    }
    await next();
  };
}

/**
 * The API app. Without API keys it serves one tenant, and only on loopback.
 * @throws {RouteOptionsError} when there are no API keys and the host is not
 * loopback.
 */
export async function createApp(
  { db, blobs, options, log = console.log }: AppOptions,
): Promise<OpenAPIHono<AppEnv>> {
  if (!options.apiKeys) {
    if (!isLoopbackHost(options.host)) {
      throw new RouteOptionsError(
        `API_KEYS is unset, so authentication is off, which is allowed only on a loopback HOST; ` +
          `HOST is "${options.host}". Set API_KEYS=key:tenant[,key:tenant...] or HOST=127.0.0.1`,
      );
    }
    log(
      `auth is off (API_KEYS unset): every request is tenant "default"; serving on loopback only`,
    );
  } else if (options.metricsToken === undefined) {
    log("GET /metrics is disabled: API_KEYS is set and METRICS_TOKEN is not");
  }
  const counters = new HttpCounters();
  const wakeups = new EventWakeups(db, options.notifications);
  const breaker = new DbCircuitBreaker(db, { log });
  const streamTokens = await StreamTokens.create(
    options.streamTokenSecret,
    options.streamTokenTtlS,
  );
  const deps = { db, blobs, options, counters, wakeups, breaker, streamTokens };
  const app = new OpenAPIHono<AppEnv>();
  app.onError(errorHandler(breaker));
  app.notFound((c) => {
    throw new ApiError(
      "not_found",
      `no route for ${c.req.method} ${c.req.path}`,
    );
  });
  app.use("*", counters.middleware());
  // Outside everything that reads a body, so its 408 replaces theirs.
  app.use("*", requestTimeout(options.requestTimeoutMs));
  // Before everything that reads or writes: keys already keep a rebinding
  // page out, so the Host check is only needed while auth is off.
  if (!options.apiKeys) app.use("*", hostGuard(options));
  // Preflights carry no credentials, so CORS answers them before auth.
  const corsMw = corsMiddleware(options);
  if (corsMw) app.use("*", corsMw);
  app.use("*", originGuard(options));
  app.use("/v1/*", await authMiddleware(options.apiKeys, streamTokens));
  // While the database is known down, answer 503 at once instead of letting
  // the request wait out a connect timeout (db/circuit_breaker.ts).
  const dbGate: MiddlewareHandler = async (_c, next) => {
    await breaker.admit();
    await next();
  };
  app.use("/v1/*", dbGate);
  app.use("/metrics", await metricsAuth(options));
  app.use("/metrics", dbGate);
  // Uploads get their own, larger limit; every other body is JSON. The
  // upload's multipart reader counts the stream itself, so only a declared
  // Content-Length is checked up front: hono's bodyLimit would buffer a
  // body sent without one, which is exactly what streaming avoids.
  const uploadLimit = declaredLengthLimit(options.maxUploadBytes, "upload");
  const jsonLimit = limit(options.maxBodyBytes, "request body");
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
  app.openAPIRegistry.registerComponent("securitySchemes", "streamToken", {
    type: "apiKey",
    in: "query",
    name: "token",
    description:
      "a stream token from createStreamToken: opens only its own job's event stream, for minutes",
  });
  for (
    const routes of [
      jobRoutes,
      eventRoutes,
      metricRoutes,
      coefficientRoutes,
      modelRoutes,
      artifactRoutes,
      checkpointRoutes,
      comparisonRoutes,
      comparisonEventRoutes,
      datasetRoutes,
      healthRoutes,
    ]
  ) {
    app.route("/", routes(deps));
  }
  app.route("/", docRoutes(() => app.getOpenAPI31Document(OPENAPI_INFO)));
  // The dashboard's pages and files: HTML, so outside the OpenAPI document.
  app.route("/", await dashboardRoutes(deps));
  app.route("/", assetRoutes());
  return app;
}
