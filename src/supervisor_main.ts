/**
 * The supervisor alone: WORKERS worker processes (src/worker_main.ts)
 * against DATABASE_URL, restarted when they die, stopped on SIGINT/SIGTERM.
 * `deno task start` runs the same supervisor beside the API.
 */
import { resolve } from "node:path";
import { startSupervisor } from "../workers/supervisor.ts";
import { loadConfig } from "./config.ts";

const config = loadConfig();
if (!config.databaseUrl) {
  console.error("supervisor: DATABASE_URL must be set");
  Deno.exit(2);
}
const supervisor = startSupervisor({
  workers: config.workers,
  gpus: config.gpus,
  // Absolute: every worker must find the same DATA_DIR/blobs.
  env: { DATABASE_URL: config.databaseUrl, DATA_DIR: resolve(config.dataDir) },
  entry: new URL("./worker_main.ts", import.meta.url),
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    await supervisor.stop();
    Deno.exit(0);
  });
}
