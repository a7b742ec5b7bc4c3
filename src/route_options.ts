/** The HTTP layer's options, taken from the service's config. */
import type { RouteOptions } from "../routes/mod.ts";
import type { Config } from "./config.ts";

/**
 * Copies what routes/ needs out of `config`. `notifications` is for the
 * caller to say: only it knows whether it connected to a real Postgres
 * (NOTIFY arrives) or started the embedded PGlite (it never does).
 */
export function routeOptions(
  config: Config,
  { notifications }: { notifications: boolean },
): RouteOptions {
  return {
    apiKeys: config.apiKeys,
    host: config.host,
    publicHost: config.publicHost,
    corsOrigins: config.corsOrigins,
    maxUploadBytes: config.maxUploadBytes,
    maxBodyBytes: config.maxBodyBytes,
    maxJobBytes: config.maxJobBytes,
    maxQueuedPerTenant: config.maxQueuedPerTenant,
    maxAttempts: config.maxAttempts,
    sseHeartbeatMs: config.sseHeartbeatMs,
    ssePollMs: config.ssePollMs,
    notifications,
    requestTimeoutMs: config.requestTimeoutMs,
    metricsToken: config.metricsToken,
    webhookPolicy: config.webhookPolicy,
    streamTokenSecret: config.streamTokenSecret,
    streamTokenTtlS: config.streamTokenTtlS,
  };
}
