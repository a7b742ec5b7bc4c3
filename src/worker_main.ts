/**
 * `deno task worker`: one worker process. Claims jobs from DATABASE_URL and
 * trains them; SIGINT/SIGTERM release the job in flight and exit 0. Under a
 * supervisor it also stops when the supervisor dies
 * (workers/parent_pipe.ts).
 */
import { closeDb, createDb, sweepBlobs } from "../db/mod.ts";
import { initBackend } from "./engine/mod.ts";
import { openBlobStore } from "./blob_store.ts";
import { loadConfig } from "./config.ts";
import { watchParentPipe } from "../workers/parent_pipe.ts";
import { runWorker } from "../workers/worker_loop.ts";

/** Idle poll interval; NOTIFY usually wakes the worker sooner. */
const POLL_MS = 500;

/**
 * A worker's connects may be slow without the database being gone (embedded
 * PGlite queues them behind other sessions' transactions), and no client
 * waits on it: longer than the API's (db/client.ts), shorter than
 * postgres.js's 30 s so an outage is retried (workers/retry_while_db_down.ts)
 * soon.
 */
const CONNECT_TIMEOUT_SECONDS = 10;

/**
 * After the supervisor dies, time to release the job in flight before exiting
 * anyway: the database may have died with it (embedded PGlite).
 */
const ORPHAN_GRACE_MS = 3000;

async function main(): Promise<number> {
  const config = loadConfig();
  if (!config.databaseUrl) {
    console.error(
      "worker: DATABASE_URL must be set (deno task start sets it for its workers)",
    );
    return 2;
  }
  const workerId = `${Deno.hostname()}:${Deno.pid}`;
  const log = (message: string) =>
    console.error(`[worker ${workerId}] ${message}`);
  await initBackend(config.backend);
  const db = createDb(config.databaseUrl, {
    max: 4,
    connectTimeoutSeconds: CONNECT_TIMEOUT_SECONDS,
  });
  const blobs = await openBlobStore(config);
  const shutdown = new AbortController();
  const onSignal = () => {
    log("stopping");
    shutdown.abort();
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  watchParentPipe(() => {
    log("supervisor gone (stdin closed): stopping");
    shutdown.abort();
    setTimeout(() => Deno.exit(1), ORPHAN_GRACE_MS);
  });
  log(
    `started (backend ${config.backend}, ${config.threads} thread(s) per job, lease ${config.leaseSeconds}s, blobs in ${blobs.location})`,
  );
  // Blobs a crash left unreferenced; safe beside running writers.
  await sweepBlobs(db, blobs).then(
    (swept) => swept.length && log(`swept ${swept.length} unreferenced blobs`),
    (err) => log(`blob sweep skipped: ${(err as Error).message}`),
  );
  try {
    await runWorker({
      db,
      blobs,
      databaseUrl: config.databaseUrl,
      workerId,
      leaseSeconds: config.leaseSeconds,
      dataDir: config.fngdDataDir,
      pollMs: POLL_MS,
      maxRunningPerTenant: config.maxRunningPerTenant,
      maxJobBytes: config.maxJobBytes,
      checkpointsKept: config.checkpointsKept,
      threads: config.threads,
      shutdown: shutdown.signal,
      log,
    });
  } finally {
    await closeDb(db);
    await blobs.close();
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
