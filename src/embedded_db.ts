/**
 * The embedded default: PGlite (Postgres compiled to WASM) served on a free
 * loopback port through pglite-socket's protocol handler, so the API and the
 * worker processes talk to it through postgres.js as to a real server.
 *
 * PGlite has one session, so connections are multiplexed onto it one protocol
 * message at a time. pglite-socket's own queue keeps a connection exclusive
 * only while a transaction is open; between a Parse and its Sync it lets
 * other connections in, and their unnamed statements and portals clobber each
 * other ("bind message supplies 3 parameters, but prepared statement requires
 * 15"), which we hit as soon as a worker process and the API ran together.
 * {@link MessageGroupQueue} therefore also keeps a connection exclusive from
 * its first message to the Sync (or simple Query) that ends the group.
 *
 * LISTEN/NOTIFY is not delivered across connections here: every wait in this
 * service also polls.
 */
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketHandler } from "@electric-sql/pglite-socket";
import { createServer, type Socket } from "node:net";
import { lockDataDir } from "./data_dir_lock.ts";

/** Options of {@link startEmbeddedDb}. */
export interface EmbeddedDbOptions {
  /**
   * Directory of the database files, locked against a second process (see
   * data_dir_lock.ts); omitted means in memory.
   */
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

interface Pending {
  handlerId: number;
  message: Uint8Array;
  onData: (data: Uint8Array) => void;
  resolve: (bytes: number) => void;
  reject: (err: unknown) => void;
}

const SYNC = 0x53; // 'S'
const QUERY = 0x51; // 'Q'
const TERMINATE = 0x58; // 'X'

/**
 * Runs protocol messages of many connections on one PGlite, never
 * interleaving another connection into an unfinished message group or an
 * open transaction. Implements the queue interface PGLiteSocketHandler uses.
 */
class MessageGroupQueue {
  #queue: Pending[] = [];
  #running = false;
  /** The connection that holds PGlite until its group or transaction ends. */
  #owner: number | null = null;

  constructor(private readonly pg: PGlite) {}

  enqueue(
    handlerId: number,
    message: Uint8Array,
    onData: (data: Uint8Array) => void,
  ): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ handlerId, message, onData, resolve, reject });
      this.#drain();
    });
  }

  async #drain(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      while (this.#queue.length > 0) {
        const at = this.#owner === null
          ? 0
          : this.#queue.findIndex((p) => p.handlerId === this.#owner);
        if (at < 0) break; // the owner has not sent its next message yet
        const [item] = this.#queue.splice(at, 1);
        let bytes = 0;
        try {
          await this.pg.runExclusive(() =>
            this.pg.execProtocolRawStream(item.message, {
              onRawData: (data) => {
                bytes += data.length;
                item.onData(data);
              },
            })
          );
          item.resolve(bytes);
        } catch (err) {
          item.reject(err);
        }
        // A startup message (first byte 0: its length's high byte) ends a group too.
        const type = item.message[0];
        const endsGroup = type === SYNC || type === QUERY ||
          type === TERMINATE || type === 0;
        this.#owner = endsGroup && !this.pg.isInTransaction()
          ? null
          : item.handlerId;
      }
    } finally {
      this.#running = false;
    }
  }

  getQueueLength(): number {
    return this.#queue.length;
  }

  clearQueueForHandler(handlerId: number): void {
    this.#queue = this.#queue.filter((p) => {
      if (p.handlerId !== handlerId) return true;
      p.reject(new Error("connection closed"));
      return false;
    });
  }

  /** A connection that vanished mid-group or mid-transaction gives PGlite back clean. */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.#owner !== handlerId) return;
    await this.pg.runExclusive(async () => {
      await this.pg.execProtocolRaw(Uint8Array.of(SYNC, 0, 0, 0, 4));
      if (this.pg.isInTransaction()) await this.pg.exec("ROLLBACK");
    });
    this.#owner = null;
    this.#drain();
  }
}

type HandlerQueue = ConstructorParameters<
  typeof PGLiteSocketHandler
>[0]["queryQueue"];

/**
 * Opens PGlite and serves it on 127.0.0.1 at a free port.
 * @throws {DataDirLockedError} when another process has `dataDir` open.
 */
export async function startEmbeddedDb(
  opts: EmbeddedDbOptions = {},
): Promise<EmbeddedDb> {
  // Before PGlite touches a file: a second opener corrupts the database.
  const lock = opts.dataDir ? await lockDataDir(opts.dataDir) : undefined;
  let pg: PGlite;
  try {
    pg = await PGlite.create(opts.dataDir ?? "memory://");
  } catch (err) {
    lock?.release();
    throw err;
  }
  const queue = new MessageGroupQueue(pg) as unknown as HandlerQueue;
  const handlers = new Set<PGLiteSocketHandler>();
  const server = createServer((socket: Socket) => {
    const handler = new PGLiteSocketHandler({
      queryQueue: queue,
      closeOnDetach: true,
    });
    handlers.add(handler);
    const forget = () => handlers.delete(handler);
    handler.addEventListener("close", forget);
    handler.addEventListener("error", forget);
    handler.attach(socket).catch(() => {
      forget();
      socket.destroy();
    });
  });
  server.maxConnections = opts.maxConnections ?? 64;
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address && typeof address === "object") resolve(address.port);
      else reject(new Error("embedded db server has no TCP address"));
    });
  });
  let stopped = false;
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all([...handlers].map((h) => h.detach(true)));
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pg.close();
      lock?.release();
    },
  };
}
