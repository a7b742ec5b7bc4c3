/**
 * The worker's main loop: claim, run, repeat; when idle, sleep until a NOTIFY
 * on `jobs` or the poll interval, whichever comes first (NOTIFY is a hint,
 * and embedded PGlite never delivers it across connections).
 */
import {
  claimNextJob,
  type Db,
  JOBS_CHANNEL,
  listen,
  PollTimer,
} from "../db/mod.ts";
import { HeartbeatThread } from "./heartbeat.ts";
import { type JobContext, runJob } from "./run_job.ts";

/** Options of {@link runWorker}. */
export interface WorkerOptions extends Omit<JobContext, "db" | "heartbeats"> {
  db: Db;
  /** The database the heartbeat thread connects to (the same as `db`'s). */
  databaseUrl: string;
  /** Idle poll interval in milliseconds. */
  pollMs: number;
  /** Jobs of a tenant with this many live leases are not claimed (0: no cap). */
  maxRunningPerTenant?: number;
}

/** Runs until `opts.shutdown` aborts; a job in flight is released first. */
export async function runWorker(opts: WorkerOptions): Promise<void> {
  const { db, shutdown } = opts;
  const heartbeats = new HeartbeatThread(opts.databaseUrl, opts.log);
  const ctx: JobContext = { ...opts, heartbeats };
  const idle = new PollTimer(shutdown);
  const unlisten = await listen(db, JOBS_CHANNEL, () => idle.notify()).catch(
    (err) => {
      opts.log(`LISTEN failed, polling only: ${(err as Error).message}`);
      return undefined;
    },
  );
  let backoffMs = opts.pollMs;
  try {
    // No claim before the lease can be renewed; a shutdown meanwhile ends the wait.
    if (!shutdown.aborted) {
      await Promise.race([
        heartbeats.ready,
        new Promise((resolve) =>
          shutdown.addEventListener("abort", resolve, { once: true })
        ),
      ]);
    }
    while (!shutdown.aborted) {
      let claimed = false;
      try {
        const job = await claimNextJob(db, opts.workerId, opts.leaseSeconds, {
          maxRunningPerTenant: opts.maxRunningPerTenant,
        });
        backoffMs = opts.pollMs;
        if (job) {
          claimed = true;
          opts.log(`claimed job ${job.id} (attempt ${job.attempts})`);
          const outcome = await runJob(ctx, job);
          opts.log(`job ${job.id}: ${outcome}`);
        }
      } catch (err) {
        // Database down or restarting: back off, keep the process alive.
        opts.log(`claim failed: ${(err as Error).message}`);
        backoffMs = Math.min(backoffMs * 2, 30_000);
      }
      if (claimed || shutdown.aborted) continue;
      await idle.wait(backoffMs);
    }
  } finally {
    await unlisten?.().catch(() => {});
    await heartbeats.close();
  }
}
