/**
 * A database of its own for each test: a fresh `fngd_test_<random>` database
 * on the DATABASE_URL server when it is set, otherwise a fresh in-memory
 * PGlite served on loopback. Migrated, and dropped on close.
 */
import postgres from "postgres";
import {
  claimNextJob,
  closeDb,
  createDb,
  createJob,
  type Db,
  type JobLease,
  type JobRow,
  migrateDb,
  type Queryable,
} from "../db/mod.ts";
import { startEmbeddedDb } from "../src/embedded_db.ts";

/** A migrated, private database. */
export interface TestDb {
  /** URL other connections and subprocesses can use. */
  url: string;
  /** A pooled handle on it. */
  db: Db;
  /** True when this is embedded PGlite (NOTIFY is not cross-connection). */
  embedded: boolean;
  /** Closes `db` and drops the database. */
  close(): Promise<void>;
}

/** Creates, migrates (unless `migrate: false`) and returns a private test database. */
export async function createTestDb(
  opts: { max?: number; migrate?: boolean } = {},
): Promise<TestDb> {
  const migrate = opts.migrate ?? true;
  const serverUrl = Deno.env.get("DATABASE_URL");
  if (!serverUrl) {
    const embedded = await startEmbeddedDb();
    const db = createDb(embedded.url, opts);
    if (migrate) await migrateDb(db);
    return {
      url: embedded.url,
      db,
      embedded: true,
      async close() {
        await closeDb(db);
        await embedded.stop();
      },
    };
  }
  const name = `fngd_test_${crypto.randomUUID().replaceAll("-", "")}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin`create database ${admin(name)}`;
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const db = createDb(url.toString(), opts);
  if (migrate) await migrateDb(db);
  return {
    url: url.toString(),
    db,
    embedded: false,
    async close() {
      // closeDb refuses new LISTENs first: one opened after it would outlive
      // the pool, and postgres.js would reconnect it forever once the
      // database below is gone. WITH (FORCE) waits at most ~5 s for backends.
      await closeDb(db);
      await admin`drop database if exists ${admin(name)} with (force)`;
      await admin.end({ timeout: 5 });
    },
  };
}

/** The lease a claim hands its worker (the fencing token of every worker write). */
export function leaseOf(job: JobRow): JobLease {
  return { jobId: job.id, workerId: job.lockedBy!, attempt: job.attempts };
}

/** Creates a job and claims it as `workerId`, as a worker would before writing. */
export async function createClaimedJob(
  db: Queryable,
  spec: Record<string, unknown> = {},
  opts: { tenant?: string; workerId?: string } = {},
): Promise<{ job: JobRow; lease: JobLease }> {
  const { job } = await createJob(db, { tenant: opts.tenant ?? "a", spec });
  const claimed = await claimNextJob(db, opts.workerId ?? "w", 30);
  if (claimed?.id !== job.id) throw new Error("another job was claimable");
  return { job: claimed, lease: leaseOf(claimed) };
}
