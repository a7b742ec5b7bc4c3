/**
 * Keeps WORKERS worker processes alive: spawns each with Deno.Command,
 * restarts one that dies with exponential backoff, pins each to its own GPU
 * index when GPUs are configured, and on stop() sends SIGTERM (workers then
 * release their jobs) before a SIGKILL after a grace period. Workers also
 * exit on their own when the supervisor dies unannounced (parent_pipe.ts).
 */
import { sleep } from "../db/mod.ts";
import { PARENT_PIPE_ENV } from "./parent_pipe.ts";

/** Options of {@link startSupervisor}. */
export interface SupervisorOptions {
  /** Number of worker processes. */
  workers: number;
  /** GPU indices; worker i gets `CUDA_VISIBLE_DEVICES=gpus[i % gpus.length]`. */
  gpus?: number[];
  /** Added to the inherited environment of every worker (DATABASE_URL at least). */
  env: Record<string, string>;
  /**
   * The worker process's main module, run as `deno run --allow-all entry`.
   * The caller names it: the worker main is an entry point, which nothing
   * in workers/ may import or know the place of.
   */
  entry: URL;
  log?: (message: string) => void;
  /** First restart delay; doubles per quick death up to maxBackoffMs (default 500). */
  minBackoffMs?: number;
  /** Default 30 s. */
  maxBackoffMs?: number;
  /** A worker that lived this long resets its backoff (default 30 s). */
  stableMs?: number;
  /** SIGTERM-to-SIGKILL grace on stop (default 15 s). */
  graceMs?: number;
}

/** A running supervisor. */
export interface Supervisor {
  /** PIDs of the live workers, by slot (undefined while restarting). */
  pids(): (number | undefined)[];
  /** Total restarts so far. */
  restarts(): number;
  /** Stops every worker and resolves when all have exited. */
  stop(): Promise<void>;
}

/** Starts `opts.workers` workers and keeps them running until stop(). */
export function startSupervisor(opts: SupervisorOptions): Supervisor {
  const log = opts.log ?? ((m: string) => console.error(`[supervisor] ${m}`));
  const { entry } = opts;
  const minBackoff = opts.minBackoffMs ?? 500;
  const maxBackoff = opts.maxBackoffMs ?? 30_000;
  const stableMs = opts.stableMs ?? 30_000;
  const graceMs = opts.graceMs ?? 15_000;
  const stopping = new AbortController();
  const children: (Deno.ChildProcess | undefined)[] = [];
  let restarts = 0;
  if (opts.gpus?.length && opts.workers > opts.gpus.length) {
    log(`${opts.workers} workers share ${opts.gpus.length} GPUs`);
  }

  async function keepAlive(slot: number): Promise<void> {
    const env: Record<string, string> = { ...opts.env, [PARENT_PIPE_ENV]: "1" };
    if (opts.gpus?.length) {
      env.CUDA_VISIBLE_DEVICES = String(opts.gpus[slot % opts.gpus.length]);
    }
    let backoff = minBackoff;
    while (!stopping.signal.aborted) {
      const started = Date.now();
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", entry.href],
        env,
        // Never written to: its EOF tells the worker that we are gone.
        stdin: "piped",
        stdout: "inherit",
        stderr: "inherit",
      }).spawn();
      children[slot] = child;
      const status = await child.status;
      children[slot] = undefined;
      await child.stdin.close().catch(() => {});
      if (stopping.signal.aborted) return;
      if (Date.now() - started >= stableMs) backoff = minBackoff;
      log(
        `worker ${slot} (pid ${child.pid}) exited with ${
          status.signal ?? status.code
        }; restarting in ${backoff} ms`,
      );
      await sleep(backoff, stopping.signal);
      backoff = Math.min(backoff * 2, maxBackoff);
      restarts++;
    }
  }

  const loops = Array.from({ length: opts.workers }, (_, i) => keepAlive(i));

  return {
    pids: () => children.map((c) => c?.pid),
    restarts: () => restarts,
    async stop() {
      stopping.abort();
      const live = children.filter((c): c is Deno.ChildProcess => !!c);
      for (const child of live) {
        try {
          child.kill("SIGTERM");
        } catch { /* already gone */ }
      }
      const killer = setTimeout(() => {
        for (const child of live) {
          try {
            child.kill("SIGKILL");
          } catch { /* already gone */ }
        }
      }, graceMs);
      await Promise.all(live.map((c) => c.status));
      clearTimeout(killer);
      await Promise.all(loops);
    },
  };
}
