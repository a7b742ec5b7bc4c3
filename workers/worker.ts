/**
 * `deno task worker`: one worker process. Claims jobs from DATABASE_URL and
 * trains them; SIGINT/SIGTERM release the job in flight and exit 0.
 */
import { closeDb, createDb } from "../db/mod.ts";
import { initBackend } from "../src/engine/mod.ts";
import { loadConfig } from "../src/config.ts";
import { runWorker } from "./worker_loop.ts";

/** Idle poll interval; NOTIFY usually wakes the worker sooner. */
const POLL_MS = 500;

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
  const db = createDb(config.databaseUrl, { max: 4 });
  const shutdown = new AbortController();
  const onSignal = () => {
    log("stopping");
    shutdown.abort();
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  log(`started (backend ${config.backend}, lease ${config.leaseSeconds}s)`);
  try {
    await runWorker({
      db,
      workerId,
      leaseSeconds: config.leaseSeconds,
      dataDir: config.fngdDataDir,
      pollMs: POLL_MS,
      shutdown: shutdown.signal,
      log,
    });
  } finally {
    await closeDb(db);
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
