/**
 * The one client factory: drizzle over postgres.js. `db.sql` is the raw
 * postgres.js client, used for LISTEN and nothing else outside db/.
 */
import { drizzle, type PostgresJsDatabase } from "drizzle-orm/postgres-js";
import type { PostgresJsQueryResultHKT } from "drizzle-orm/postgres-js";
import type { PgDatabase } from "drizzle-orm/pg-core";
import postgres from "postgres";
import * as schema from "./schema.ts";
import { stopListeners } from "./_listeners.ts";

/** A database handle: drizzle with the schema, plus the raw client. */
export type Db = PostgresJsDatabase<typeof schema> & {
  $client: postgres.Sql;
  /** The raw postgres.js client (LISTEN, shutdown). */
  sql: postgres.Sql;
};

/** A handle or an open transaction; every query function accepts either. */
export type Queryable = PgDatabase<PostgresJsQueryResultHKT, typeof schema>;

/** Options of {@link createDb}. */
export interface CreateDbOptions {
  /** Pool size (default 10). */
  max?: number;
  /**
   * Seconds from opening a connection to its first ReadyForQuery (TCP,
   * startup, auth). The default, 0.5, is the API's: a Postgres on the same
   * network answers in a few milliseconds, and an unreachable one must cost
   * a request well under a second, not postgres.js's 30. Workers and
   * embedded PGlite (whose one session makes a new connection wait behind
   * other connections' transactions) pass longer ones.
   */
  connectTimeoutSeconds?: number;
}

/**
 * The pause before a pool slot reconnects after `retries` failed attempts
 * in a row: 0.1 s doubling to 1 s. postgres.js's own grows as 3^n/100 s up
 * to 20 s, and a query handed to that slot waits it out first, so after a
 * minute of outage a recovered database would still be "down" for up to
 * 20 s. Callers pace their retries themselves (the API's circuit breaker,
 * the workers' backoff); this only keeps a LISTEN reconnect loop polite.
 */
const reconnectDelaySeconds = (retries: number) =>
  Math.min(0.05 * 2 ** retries, 1);

/** Opens a pooled connection to `url` (connections open lazily). */
export function createDb(url: string, opts: CreateDbOptions = {}): Db {
  const client = postgres(url, {
    max: opts.max ?? 10,
    connect_timeout: opts.connectTimeoutSeconds ?? 0.5,
    backoff: reconnectDelaySeconds,
    // postgres.js 3.4.9 runs its array-type lookup as a detached promise at
    // every (re)connect: a connection terminated during that query rejects
    // it with nobody listening, and the process dies. We bind no arrays.
    fetch_types: false,
    // The migrator's "already exists, skipping" notices are noise.
    onnotice: () => {},
    // Keep idle pools from pinning the server's connection slots.
    idle_timeout: 30,
    connection: { application_name: "fngd" },
  });
  const db = drizzle({ client, schema });
  return Object.assign(db, { sql: client });
}

/**
 * Ends LISTENs and refuses new ones (see db/_listeners.ts), then closes every
 * connection of the pool, waiting up to `timeoutSeconds` for each phase.
 */
export async function closeDb(db: Db, timeoutSeconds = 5): Promise<void> {
  await stopListeners(db.sql, timeoutSeconds * 1000);
  await db.sql.end({ timeout: timeoutSeconds });
}
