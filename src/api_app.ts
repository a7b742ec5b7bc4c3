/**
 * The API alone, built from the environment against an existing
 * DATABASE_URL: what `deno task api` and `deno serve src/serve.ts` run.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { type BlobStore, createDb, type Db } from "../db/mod.ts";
import { type AppEnv, createApp } from "../routes/mod.ts";
import { openBlobStore } from "./blob_store.ts";
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { routeOptions } from "./route_options.ts";

/** An app built from the environment, with the db handle its owner must close. */
export interface EnvApp {
  app: OpenAPIHono<AppEnv>;
  db: Db;
  blobs: BlobStore;
  config: Config;
}

/**
 * Loads the config and connects to DATABASE_URL (the API alone; migrations
 * are `deno task start`'s job, and /readyz reports when they are missing).
 * DATABASE_URL is always a real Postgres here, so NOTIFY wakes SSE streams.
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
  const blobs = await openBlobStore(config);
  const app = await createApp({
    db,
    blobs,
    options: routeOptions(config, { notifications: true }),
  });
  return { app, db, blobs, config };
}
