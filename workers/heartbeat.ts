/**
 * Renews a job's lease on an interval and turns the answer into an abort:
 * `cancel` when the API asked to cancel, `lost` when the lease is gone.
 */
import { heartbeatJob, type Queryable } from "../db/mod.ts";

/** Why a running job was stopped from outside the engine. */
export type StopReason = "cancel" | "lost" | "shutdown";

/** Options of {@link startHeartbeat}. */
export interface HeartbeatOptions {
  db: Queryable;
  jobId: string;
  workerId: string;
  leaseSeconds: number;
  /** Called once, with the first reason to stop. */
  onStop: (reason: StopReason) => void;
  /** Default: a third of the lease, at most one second (cancel must be prompt). */
  intervalMs?: number;
  log?: (message: string) => void;
}

/** Starts heartbeating; call the returned function to stop. */
export function startHeartbeat(opts: HeartbeatOptions): () => void {
  const interval = opts.intervalMs ??
    Math.min(1000, (opts.leaseSeconds * 1000) / 3);
  let busy = false;
  let stopped = false;
  const timer = setInterval(async () => {
    if (busy || stopped) return; // never pile up beats behind a slow database
    busy = true;
    try {
      const beat = await heartbeatJob(
        opts.db,
        opts.jobId,
        opts.workerId,
        opts.leaseSeconds,
      );
      if (stopped) return;
      if (!beat.ok) opts.onStop("lost");
      else if (beat.cancelRequested) opts.onStop("cancel");
    } catch (err) {
      // A missed beat is survivable until the lease runs out; then `lost`.
      opts.log?.(
        `heartbeat of ${opts.jobId} failed: ${(err as Error).message}`,
      );
    } finally {
      busy = false;
    }
  }, interval);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
