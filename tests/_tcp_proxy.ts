/**
 * A loopback TCP proxy that a test can cut, to simulate a database outage
 * without touching the real server: the code under test connects to the
 * proxy, and the proxy pipes bytes to the target both ways.
 */

/** How new connections behave while the proxy is cut. */
export type OutageMode =
  /** Accepted, then never answered (a server that hangs, a black hole). */
  | "hang"
  /** Refused: nothing listens on the port (a server that is down). */
  | "refuse";

/** A running proxy. */
export interface TcpProxy {
  /** The loopback port to connect to instead of the target. */
  port: number;
  /** Closes every proxied connection; new ones then hang or are refused. */
  cut(mode: OutageMode): void;
  /** Proxies new connections to the target again. */
  restore(): void;
  /** Closes everything and waits for the piping to end. */
  close(): Promise<void>;
}

const HOST = "127.0.0.1";

/** Starts a proxy to `target` on a free loopback port. */
export function startTcpProxy(
  target: { hostname: string; port: number },
): TcpProxy {
  let listener: Deno.Listener | undefined = Deno.listen({
    hostname: HOST,
    port: 0,
  });
  const port = (listener.addr as Deno.NetAddr).port;
  let mode: "pass" | OutageMode = "pass";
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();

  const track = (task: Promise<void>) => {
    tasks.add(task);
    task.finally(() => tasks.delete(task));
  };
  const drop = (conn: Deno.Conn) => {
    if (!conns.delete(conn)) return;
    try {
      conn.close();
    } catch { /* already closed by a finished pipe */ }
  };
  const dropAll = () => [...conns].forEach(drop);

  async function pipe(client: Deno.Conn): Promise<void> {
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect(target);
    } catch {
      return drop(client);
    }
    conns.add(upstream);
    // Either side ending (or a cut) ends both directions.
    const ends = [
      client.readable.pipeTo(upstream.writable, { preventClose: true }),
      upstream.readable.pipeTo(client.writable, { preventClose: true }),
    ];
    await Promise.race(ends).catch(() => {});
    drop(client);
    drop(upstream);
    await Promise.allSettled(ends);
  }

  async function accept(from: Deno.Listener): Promise<void> {
    try {
      for await (const conn of from) {
        conns.add(conn);
        // While cut in "hang" mode the connection is held, never read.
        if (mode === "pass") track(pipe(conn));
      }
    } catch { /* the listener was closed */ }
  }
  track(accept(listener));

  return {
    port,
    cut(next) {
      mode = next;
      if (next === "refuse") {
        listener?.close();
        listener = undefined;
      }
      dropAll();
    },
    restore() {
      mode = "pass";
      dropAll(); // connections held by a "hang" cut
      if (!listener) {
        listener = Deno.listen({ hostname: HOST, port });
        track(accept(listener));
      }
    },
    async close() {
      mode = "refuse";
      listener?.close();
      listener = undefined;
      dropAll();
      while (tasks.size > 0) await Promise.allSettled([...tasks]);
    },
  };
}
