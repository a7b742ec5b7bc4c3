/**
 * A database of its own for each test: a fresh `fngd_test_<random>` database
 * on the DATABASE_URL server when it is set, otherwise a fresh in-memory
 * PGlite served on loopback. Migrated, and dropped on close. Each has its
 * own DATA_DIR too, whose blobs/ is the file blob store that the test, its
 * API and its workers share (garbage collection in one test's database must
 * never see another's blobs).
 */
import postgres from "postgres";
import { join } from "node:path";
import {
  type BlobStore,
  claimNextJob,
  closeDb,
  createDb,
  createJob,
  type Db,
  FileBlobStore,
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
  /** A private DATA_DIR: give it to workers and services as DATA_DIR. */
  dataDir: string;
  /** The file blob store in `dataDir`/blobs, as workers open it. */
  blobs: BlobStore;
  /** Closes `db`, drops the database and removes `dataDir`. */
  close(): Promise<void>;
}

/** A temp DATA_DIR and its file blob store. */
async function privateDataDir(): Promise<
  { dataDir: string; blobs: BlobStore }
> {
  const dataDir = await Deno.makeTempDir({ prefix: "fngd_test_data_" });
  return { dataDir, blobs: new FileBlobStore(join(dataDir, "blobs")) };
}

/** Creates, migrates (unless `migrate: false`) and returns a private test database. */
export async function createTestDb(
  opts: { max?: number; migrate?: boolean } = {},
): Promise<TestDb> {
  const migrate = opts.migrate ?? true;
  const serverUrl = Deno.env.get("DATABASE_URL");
  const { dataDir, blobs } = await privateDataDir();
  const removeDataDir = () =>
    Deno.remove(dataDir, { recursive: true }).catch(() => {});
  if (!serverUrl) {
    const embedded = await startEmbeddedDb();
    const db = createDb(embedded.url, opts);
    if (migrate) await migrateDb(db);
    return {
      url: embedded.url,
      db,
      embedded: true,
      dataDir,
      blobs,
      async close() {
        await closeDb(db);
        await embedded.stop();
        await removeDataDir();
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
    dataDir,
    blobs,
    async close() {
      // closeDb refuses new LISTENs first: one opened after it would outlive
      // the pool, and postgres.js would reconnect it forever once the
      // database below is gone. WITH (FORCE) waits at most ~5 s for backends.
      await closeDb(db);
      await admin`drop database if exists ${admin(name)} with (force)`;
      await admin.end({ timeout: 5 });
      await removeDataDir();
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
