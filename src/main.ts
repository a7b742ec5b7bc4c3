/**
 * `deno task start`: the whole service in one command. Embedded PGlite when
 * DATABASE_URL is unset, migrations, the HTTP API on HOST:PORT and a
 * supervisor running WORKERS worker processes against the same database.
 * Prints `listening on http://HOST:PORT` once the API accepts connections.
 */
import { resolve } from "node:path";
import { closeDb, createDb, migrateDb } from "../db/mod.ts";
import { createApp } from "../routes/mod.ts";
import { startSupervisor } from "../workers/supervisor.ts";
import { startWebhookDelivery } from "../workers/webhook_delivery.ts";
import { openBlobStore } from "./blob_store.ts";
import { loadConfig } from "./config.ts";
import { DataDirLockedError } from "./data_dir_lock.ts";
import { type EmbeddedDb, startEmbeddedDb } from "./embedded_db.ts";
import { routeOptions } from "./route_options.ts";
import { stopServer } from "./stop_server.ts";

const log = (message: string) => console.error(`[start] ${message}`);
const EMBEDDED_CONNECT_TIMEOUT_SECONDS = 10;

const config = loadConfig();
let embedded: EmbeddedDb | undefined;
let databaseUrl = config.databaseUrl;
if (!databaseUrl) {
  try {
    embedded = await startEmbeddedDb({ dataDir: config.dataDir });
  } catch (err) {
    if (!(err instanceof DataDirLockedError)) throw err;
    log(err.message);
    Deno.exit(1);
  }
  databaseUrl = embedded.url;
  log(`embedded PGlite in ${config.dataDir} served at ${databaseUrl}`);
}
// The API's short connect timeout (db/client.ts) is for a server that can
// vanish. Embedded PGlite lives in this process; a slow connect there only
// means other connections' transactions are ahead in its one session.
const db = createDb(databaseUrl, {
  connectTimeoutSeconds: embedded
    ? EMBEDDED_CONNECT_TIMEOUT_SECONDS
    : config.dbConnectTimeoutMs && config.dbConnectTimeoutMs / 1000,
});
await migrateDb(db);
const blobs = await openBlobStore(config);
log(`blobs in ${blobs.location}`);

// The embedded PGlite never delivers NOTIFY across connections, so SSE
// streams only poll there; a real server wakes them early.
const app = await createApp({
  db,
  blobs,
  options: routeOptions(config, { notifications: !embedded }),
  log,
});

let shuttingDown = false;
async function shutdown(signal: string): Promise<never> {
  if (shuttingDown) Deno.exit(1); // a second signal: stop waiting
  shuttingDown = true;
  log(`${signal}: stopping workers, API and database`);
  // Workers first: they release their jobs, which needs the database.
  await supervisor.stop();
  await webhooks.stop();
  await stopServer(server);
  await closeDb(db);
  await blobs.close();
  await embedded?.stop();
  Deno.exit(0);
}
// Before "listening on": whoever reads that line may send SIGTERM at once,
// and a signal with no listener yet kills the process without cleanup. (No
// listener runs before this module's synchronous rest has set server and
// supervisor.)
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => void shutdown(signal));
}

const server = Deno.serve({
  hostname: config.host,
  port: config.port,
  onListen: ({ hostname, port }) =>
    console.log(`listening on http://${hostname}:${port}`),
}, app.fetch);

const webhooks = startWebhookDelivery({
  db,
  policy: config.webhookPolicy,
  maxAttempts: config.webhookMaxAttempts,
  backoffMs: config.webhookBackoffMs,
  timeoutMs: config.webhookTimeoutMs,
  pollMs: config.webhookPollMs,
  log,
});

const supervisor = startSupervisor({
  workers: config.workers,
  gpus: config.gpus,
  // Absolute: workers must find the same DATA_DIR/blobs whatever their cwd.
  env: { DATABASE_URL: databaseUrl, DATA_DIR: resolve(config.dataDir) },
  entry: new URL("./worker_main.ts", import.meta.url),
});
