/** How the entry points stop their HTTP server. */
import { waitAtMost } from "../db/mod.ts";

/** SSE streams can stay open for hours: on shutdown they get this long. */
export const SHUTDOWN_GRACE_MS = 5000;

/** Stops accepting, lets in-flight requests finish within the grace, then returns. */
export async function stopServer(server: Deno.HttpServer): Promise<void> {
  await waitAtMost(server.shutdown(), SHUTDOWN_GRACE_MS);
}
