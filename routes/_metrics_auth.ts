/**
 * Who may read GET /metrics. It counts every tenant's jobs, so once API keys
 * are on no tenant key opens it: it has a token of its own, METRICS_TOKEN,
 * which a scraper sends as a bearer token. With keys on and no token it is
 * disabled (404); with auth off (loopback only) and no token it is open.
 */
import type { MiddlewareHandler } from "hono";
import { bearerToken, digest } from "./_auth.ts";
import type { RouteOptions } from "./options.ts";
import { ApiError } from "./problem.ts";

const CHALLENGE = 'Bearer realm="fngd-metrics"';

/** The /metrics gate for `options` (API keys and METRICS_TOKEN). */
export async function metricsAuth(
  options: Pick<RouteOptions, "apiKeys" | "metricsToken">,
): Promise<MiddlewareHandler> {
  const { apiKeys, metricsToken } = options;
  if (metricsToken === undefined) {
    if (!apiKeys) return async (_c, next) => await next();
    return () => {
      throw new ApiError(
        "metrics_disabled",
        "GET /metrics is disabled: API_KEYS is set and METRICS_TOKEN is not. " +
          "Set METRICS_TOKEN and scrape with Authorization: Bearer <METRICS_TOKEN>; tenant API keys never open it",
      );
    };
  }
  // Compared as digests, as tenant keys are (routes/_auth.ts).
  const wanted = await digest(metricsToken);
  const tenantKeys = new Set(
    await Promise.all([...(apiKeys?.keys() ?? [])].map(digest)),
  );
  return async (c, next) => {
    const token = bearerToken(c.req.header("authorization"));
    const got = token === undefined ? undefined : await digest(token);
    if (got === wanted) return await next();
    if (got !== undefined && tenantKeys.has(got)) {
      throw new ApiError(
        "forbidden",
        "a tenant API key cannot read /metrics, which covers every tenant; use METRICS_TOKEN",
      );
    }
    throw new ApiError(
      "unauthorized",
      got === undefined
        ? "expected an Authorization: Bearer <METRICS_TOKEN> header"
        : "the bearer token is not METRICS_TOKEN",
      {
        headers: {
          "www-authenticate": got === undefined
            ? CHALLENGE
            : `${CHALLENGE}, error="invalid_token"`,
        },
      },
    );
  };
}
