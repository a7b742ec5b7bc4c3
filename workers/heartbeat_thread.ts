/**
 * The body of the heartbeat thread (a Deno Worker; see heartbeat.ts). It has
 * its own connection and event loop, so the lease is renewed while the
 * worker's main thread sits in a long synchronous training step.
 */
/// <reference lib="deno.worker" />
import { closeDb, createDb, type Db, heartbeatJob } from "../db/mod.ts";
import type { FromThread, ToThread } from "./heartbeat.ts";

let db: Db | undefined;
let maxStallMs = Infinity;
/** When the main thread last showed it is running its event loop. */
let aliveAt = Date.now();
let timer: ReturnType<typeof setInterval> | undefined;
/** Bumped per watched job, so a late answer for an old job is ignored. */
let generation = 0;

const post = (message: FromThread) => self.postMessage(message);

function unwatch(): void {
  clearInterval(timer);
  timer = undefined;
  generation++;
}

self.onmessage = async (e: MessageEvent<ToThread>) => {
  const msg = e.data;
  if (msg.type === "open") {
    // One connection is all a beat needs; a short connect timeout keeps a
    // beat during an outage from outliving the next one by much.
    db = createDb(msg.databaseUrl, { max: 1, connectTimeoutSeconds: 5 });
    maxStallMs = msg.maxStallMs;
    post({ type: "ready" });
  } else if (msg.type === "alive") {
    aliveAt = Date.now();
  } else if (msg.type === "watch") {
    unwatch();
    const mine = generation;
    let busy = false;
    let cancelSent = false;
    timer = setInterval(async () => {
      if (busy || !db) return; // never pile beats up behind a slow database
      if (Date.now() - aliveAt > maxStallMs) {
        // The main thread is wedged: let the lease lapse so that another
        // worker resumes the job from its last checkpoint.
        unwatch();
        post({
          type: "log",
          message: `main thread stalled for over ${
            maxStallMs / 1000
          } s; no longer renewing the lease of ${msg.lease.jobId}`,
        });
        return;
      }
      busy = true;
      try {
        const beat = await heartbeatJob(db, msg.lease, msg.leaseSeconds);
        if (mine !== generation) return;
        if (!beat.ok) {
          unwatch();
          post({ type: "stop", jobId: msg.lease.jobId, reason: "lost" });
        } else if (beat.cancelRequested && !cancelSent) {
          // Keep beating: the worker still holds the job until it writes
          // `cancelled`, which needs the lease.
          cancelSent = true;
          post({ type: "stop", jobId: msg.lease.jobId, reason: "cancel" });
        }
      } catch (err) {
        // A missed beat is survivable until the lease runs out; then `lost`.
        post({
          type: "log",
          message: `heartbeat of ${msg.lease.jobId} failed: ${
            (err as Error).message
          }`,
        });
      } finally {
        busy = false;
      }
    }, msg.intervalMs);
  } else if (msg.type === "unwatch") {
    unwatch();
  } else if (msg.type === "close") {
    unwatch();
    if (db) await closeDb(db, 2).catch(() => {});
    post({ type: "closed" });
  }
};
