/**
 * `deno task api`: the HTTP API alone, against an existing DATABASE_URL, on
 * HOST:PORT. Workers run elsewhere (`deno task worker`).
 */
import { closeDb } from "../db/mod.ts";
import { createAppFromEnv } from "./app.ts";

const { app, db, config } = await createAppFromEnv();
const server = Deno.serve({
  hostname: config.host,
  port: config.port,
  onListen: ({ hostname, port }) =>
    console.log(`API listening on http://${hostname}:${port}`),
}, app.fetch);

// Finish in-flight requests, then release the pool, so a restart is clean.
// SSE streams can be open for hours, so they get a few seconds, not forever.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    await Promise.race([
      server.shutdown(),
      new Promise((resolve) => setTimeout(resolve, 5000)),
    ]);
    await closeDb(db);
    Deno.exit(0);
  });
}
