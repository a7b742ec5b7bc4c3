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
}

/** Opens a pooled connection to `url` (connections open lazily). */
export function createDb(url: string, opts: CreateDbOptions = {}): Db {
  const client = postgres(url, {
    max: opts.max ?? 10,
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
