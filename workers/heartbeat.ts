/**
 * Renews the lease of the job a worker runs, from a thread of its own, and
 * turns the answer into a stop: `cancel` when the API asked to cancel,
 * `lost` when the lease is gone. A training step is synchronous and can run
 * far longer than the lease; beats from the main thread would starve then,
 * and a second worker would claim the job while the first still trains it.
 */
import type { JobLease } from "../db/mod.ts";

/** Why a running job was stopped from outside the engine. */
export type StopReason = "cancel" | "lost" | "shutdown";

/** Messages to the heartbeat thread. */
export type ToThread =
  | { type: "open"; databaseUrl: string; maxStallMs: number }
  | {
    type: "watch";
    lease: JobLease;
    leaseSeconds: number;
    intervalMs: number;
  }
  | { type: "unwatch" }
  | { type: "alive" }
  | { type: "close" };

/** Messages from the heartbeat thread. */
export type FromThread =
  | { type: "stop"; jobId: string; reason: "cancel" | "lost" }
  | { type: "log"; message: string }
  | { type: "ready" }
  | { type: "closed" };

/** What {@link HeartbeatThread.watch} needs. */
export interface WatchOptions {
  lease: JobLease;
  leaseSeconds: number;
  /** Called with each reason to stop (`cancel` at most once, then maybe `lost`). */
  onStop: (reason: "cancel" | "lost") => void;
  /** Default: a third of the lease, at most one second (cancel must be prompt). */
  intervalMs?: number;
}

/**
 * How long the main thread may go without running its event loop before the
 * thread stops renewing the lease. A step runs synchronously, so this bounds
 * one step: far above any sane step (a 4096-sample FNGD step on 2048 units
 * takes about 30 s here), but a wedged process gives its job back instead of
 * holding it forever.
 */
export const MAX_STALL_MS = 15 * 60_000;

/** One heartbeat thread per worker process, watching one job at a time. */
export class HeartbeatThread {
  #thread: Worker;
  #alive: ReturnType<typeof setInterval>;
  #onStop?: { jobId: string; fn: (reason: "cancel" | "lost") => void };
  #closed?: Promise<void>;
  readonly #ready = Promise.withResolvers<void>();

  constructor(databaseUrl: string, private readonly log: (m: string) => void) {
    // Handled where awaited; a failure nobody waits for is already logged.
    this.#ready.promise.catch(() => {});
    this.#thread = new Worker(
      new URL("./heartbeat_thread.ts", import.meta.url),
      { type: "module" },
    );
    this.#thread.onmessage = (e: MessageEvent<FromThread>) => {
      const msg = e.data;
      if (msg.type === "ready") this.#ready.resolve();
      if (msg.type === "log") this.log(msg.message);
      if (msg.type === "stop" && this.#onStop?.jobId === msg.jobId) {
        this.#onStop.fn(msg.reason);
      }
    };
    this.#thread.onerror = (e) => {
      // The lease would then lapse silently; say so loudly.
      this.log(`heartbeat thread failed: ${e.message}`);
      this.#ready.reject(new Error(`heartbeat thread failed: ${e.message}`));
    };
    this.#send({ type: "open", databaseUrl, maxStallMs: MAX_STALL_MS });
    // Only runs when the main thread's event loop does: the thread's proof
    // that training is still making progress.
    this.#alive = setInterval(() => this.#send({ type: "alive" }), 1000);
  }

  /**
   * Resolves once the thread has loaded and opened its connection. Loading
   * can take seconds (a busy machine, another process holding the
   * node_modules lock); a job claimed before then would see its lease lapse
   * with nobody renewing it. Rejects when the thread fails to start.
   */
  get ready(): Promise<void> {
    return this.#ready.promise;
  }

  /** Starts renewing `opts.lease`; call the returned function to stop. */
  watch(opts: WatchOptions): () => void {
    const jobId = opts.lease.jobId;
    this.#onStop = { jobId, fn: opts.onStop };
    this.#send({
      type: "watch",
      lease: opts.lease,
      leaseSeconds: opts.leaseSeconds,
      intervalMs: opts.intervalMs ??
        Math.min(1000, (opts.leaseSeconds * 1000) / 3),
    });
    return () => {
      if (this.#onStop?.jobId !== jobId) return;
      this.#onStop = undefined;
      this.#send({ type: "unwatch" });
    };
  }

  /** Closes the thread's connection and ends the thread (at most ~3 s). */
  close(): Promise<void> {
    return this.#closed ??= (async () => {
      const closed = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 3000);
        this.#thread.addEventListener("message", (e) => {
          if ((e as MessageEvent<FromThread>).data.type === "closed") {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      clearInterval(this.#alive);
      this.#send({ type: "close" });
      await closed;
      this.#thread.terminate();
    })();
  }

  #send(message: ToThread): void {
    this.#thread.postMessage(message);
  }
}
