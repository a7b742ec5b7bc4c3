/**
 * The embedded default: PGlite (Postgres compiled to WASM) served on a free
 * loopback port by pglite-socket, so the API and the worker processes talk to
 * it through postgres.js exactly as they would to a real server.
 *
 * pglite-socket multiplexes many client connections onto PGlite's single
 * session, one protocol message at a time, keeping an open transaction's
 * connection exclusive until it ends. Hence SKIP LOCKED claims and
 * transactions behave, but LISTEN/NOTIFY is not delivered across connections:
 * every wait in this service also polls.
 */
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

/** Options of {@link startEmbeddedDb}. */
export interface EmbeddedDbOptions {
  /** Directory of the database files; omitted means in memory. */
  dataDir?: string;
  /** Client connections served at once (default 64). */
  maxConnections?: number;
}

/** A running embedded database. */
export interface EmbeddedDb {
  /** postgres:// URL of the loopback server. */
  url: string;
  /** Stops the server and closes PGlite (flushing files to `dataDir`). */
  stop(): Promise<void>;
}

/** Opens PGlite and serves it on 127.0.0.1 at a free port. */
export async function startEmbeddedDb(
  opts: EmbeddedDbOptions = {},
): Promise<EmbeddedDb> {
  if (opts.dataDir) await Deno.mkdir(opts.dataDir, { recursive: true });
  const pg = await PGlite.create(opts.dataDir ?? "memory://");
  const server = new PGLiteSocketServer({
    db: pg,
    host: "127.0.0.1",
    port: 0,
    maxConnections: opts.maxConnections ?? 64,
  });
  await server.start();
  const url = `postgresql://postgres@${server.getServerConn()}/postgres`;
  let stopped = false;
  return {
    url,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
      await pg.close();
    },
  };
}
