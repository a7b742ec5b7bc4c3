/** Applies migrations/ with drizzle's programmatic migrator, and checks they are applied. */
import { sql } from "drizzle-orm";
import { readMigrationFiles } from "drizzle-orm/migrator";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import { fileURLToPath } from "node:url";
import type { Db } from "./client.ts";

/** migrations/ beside db/, whatever the working directory. */
const MIGRATIONS_FOLDER = fileURLToPath(
  new URL("../migrations", import.meta.url),
);

/** Arbitrary, fixed advisory lock key that serialises migrators. */
const MIGRATION_LOCK = 72_463_511;

/**
 * Brings the schema up to date; safe to run on every start, and from several
 * processes at once: a session advisory lock, held on a reserved connection,
 * makes the others wait and then find nothing left to apply. (Embedded PGlite
 * has one session, where the lock excludes nobody; only `deno task start`
 * migrates it, before anything else connects.)
 */
export async function migrateDb(db: Db): Promise<void> {
  // With fetch_types off (db/client.ts), postgres.js 3.4.9 drops a reserve()
  // that has to open a new connection, and it never resolves; one from an
  // already open connection works, so open one first.
  await db.sql`select 1`;
  const lock = await db.sql.reserve();
  try {
    await lock`select pg_advisory_lock(${MIGRATION_LOCK})`;
    await migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
  } finally {
    await lock`select pg_advisory_unlock(${MIGRATION_LOCK})`.catch(() => {});
    lock.release();
  }
}

let latestMillis: number | undefined;

/**
 * True when the database answers and its newest applied migration is the
 * newest one in migrations/. Never throws.
 */
export async function checkReady(db: Db): Promise<boolean> {
  try {
    latestMillis ??= Math.max(
      ...readMigrationFiles({ migrationsFolder: MIGRATIONS_FOLDER }).map((m) =>
        m.folderMillis
      ),
    );
    const rows = await db.execute<{ applied: string | null }>(sql`
      select max(created_at)::text as applied from drizzle.__drizzle_migrations`);
    const applied = rows[0]?.applied;
    return applied !== null && applied !== undefined &&
      Number(applied) >= latestMillis;
  } catch {
    return false;
  }
}
