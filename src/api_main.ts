/**
 * `deno task api`: the HTTP API alone, against an existing DATABASE_URL, on
 * HOST:PORT. Workers run elsewhere (`deno task worker`).
 */
import { closeDb } from "../db/mod.ts";
import { createAppFromEnv } from "./api_app.ts";
import { stopServer } from "./stop_server.ts";
import { startWebhookDelivery } from "../workers/webhook_delivery.ts";

const { app, db, blobs, config } = await createAppFromEnv();
// Handlers before serve: a signal arriving right after "listening" must
// still shut down cleanly. No await separates them from serve below, so no
// handler can run before `server` exists.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    // Finish in-flight requests, then release the pool, so a restart is
    // clean.
    await webhooks.stop();
    await stopServer(server);
    await closeDb(db);
    await blobs.close();
    Deno.exit(0);
  });
}
// Every API process delivers webhooks; their claims never overlap.
const webhooks = startWebhookDelivery({
  db,
  policy: config.webhookPolicy,
  maxAttempts: config.webhookMaxAttempts,
  backoffMs: config.webhookBackoffMs,
  timeoutMs: config.webhookTimeoutMs,
  pollMs: config.webhookPollMs,
  log: (m) => console.error(`[webhooks] ${m}`),
});
const server = Deno.serve({
  hostname: config.host,
  port: config.port,
  onListen: ({ hostname, port }) =>
    console.log(`API listening on http://${hostname}:${port}`),
}, app.fetch);
