/**
 * What every route file shares: the app's context types and a router factory
 * whose defaultHook turns validation failures into problem+json.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { BlobStore, DbCircuitBreaker } from "../db/mod.ts";
import type { Db } from "../db/mod.ts";
import { fieldErrors, validationError } from "./problem.ts";
import type { EventWakeups } from "./_event_wakeups.ts";
import type { HttpCounters } from "./_http_counters.ts";
import type { StreamTokens } from "./_stream_token.ts";
import type { RouteOptions } from "./options.ts";

/** Everything a route needs, passed in once by createApp. */
export interface AppDeps {
  db: Db;
  /** Dataset content and exported weights. */
  blobs: BlobStore;
  options: RouteOptions;
  counters: HttpCounters;
  wakeups: EventWakeups;
  /** Fails fast while the database is known down (the /v1 gate uses it too). */
  breaker: DbCircuitBreaker;
  /** Issues and checks the `?token=` of job event streams. */
  streamTokens: StreamTokens;
}

/** Hono env: the authenticated tenant is set by the auth middleware. */
export interface AppEnv {
  Variables: { tenant: string };
}

/** The router type every route file builds on. */
export type Router = OpenAPIHono<AppEnv>;

/**
 * A router whose validation failures become 400 problem+json listing the
 * invalid fields (at most MAX_FIELD_ERRORS, then a count). Throwing (rather
 * than returning) lets app.onError render it, so there is exactly one place
 * that writes error bodies.
 */
export function newRouter(): Router {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        throw validationError(fieldErrors(result.error.issues, result.target));
      }
    },
  });
}

/** The security requirement every /v1 route declares. */
export const BEARER_SECURITY = [{ bearer: [] }];

/**
 * The request of a route that creates something (`what`) from a JSON body,
 * with the optional Idempotency-Key that makes a retry return the first one.
 */
export function idempotentJsonRequest<S extends z.ZodType>(
  schema: S,
  what: string,
) {
  return {
    headers: z.object({
      "Idempotency-Key": z.string().min(1).max(255).optional().openapi({
        description: `client-chosen key; same key and body -> same ${what}`,
      }),
    }),
    body: {
      required: true,
      content: { "application/json": { schema } },
    },
  };
}
