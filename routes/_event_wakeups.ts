/**
 * Early wake-ups for SSE streams from Postgres NOTIFY on `job_events`. One
 * LISTEN connection serves every stream of the process, and only while some
 * stream is open. A notification is a hint: streams poll regardless, so a
 * lost one (or embedded PGlite, which never delivers them) only adds latency.
 */
import { type Db, JOB_EVENTS_CHANNEL, listen } from "../db/mod.ts";

/** Fans `job_events` notifications out to the streams following each job. */
export class EventWakeups {
  #subscribers = new Map<string, Set<() => void>>();
  #unlisten: Promise<(() => Promise<void>) | undefined> | undefined;

  /** `enabled` is false where NOTIFY cannot arrive (embedded PGlite). */
  constructor(readonly db: Db, readonly enabled: boolean) {}

  /** Calls `wake` when an event of `jobId` is appended; returns the unsubscribe. */
  subscribe(jobId: string, wake: () => void): () => void {
    if (!this.enabled) return () => {};
    const set = this.#subscribers.get(jobId) ?? new Set();
    set.add(wake);
    this.#subscribers.set(jobId, set);
    this.#unlisten ??= listen(
      this.db,
      JOB_EVENTS_CHANNEL,
      (payload) => this.#subscribers.get(payload)?.forEach((f) => f()),
    ).catch(() => undefined); // no LISTEN: polling alone still works
    return () => {
      set.delete(wake);
      if (set.size === 0) this.#subscribers.delete(jobId);
      if (this.#subscribers.size === 0) this.#release();
    };
  }

  /** Gives the LISTEN connection back once no stream needs it. */
  #release(): void {
    const pending = this.#unlisten;
    this.#unlisten = undefined;
    pending?.then((unlisten) => unlisten?.()).catch(() => {});
  }
}
