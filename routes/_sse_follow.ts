/**
 * Follows a job's event log over SSE. The job_events table is the truth and is
 * polled: NOTIFY is only a hint and never arrives from embedded PGlite.
 */
import type { SSEStreamingApi } from "hono/streaming";
import { type Db, getJob, isTerminalStatus, listJobEvents } from "../db/mod.ts";
import { isTerminalEvent, shapeEvent } from "./_event_shape.ts";
import type { EventWakeups } from "./_event_wakeups.ts";
import { PollTimer } from "./_poll_timer.ts";

/** What one stream needs to know. */
export interface FollowOptions {
  db: Db;
  tenant: string;
  jobId: string;
  /** Send events with seq greater than this. */
  after: number;
  pollMs: number;
  heartbeatMs: number;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  /** Holds the number of streams open now (GET /metrics, abort tests). */
  gauge: { openStreams: number };
  /** NOTIFY-driven early wake-ups; polling alone is correct without them. */
  wakeups?: EventWakeups;
}

/** Rows fetched per query; a backlog is drained in pages without sleeping. */
const PAGE = 500;

/**
 * Writes every event after `after` as `id: seq`, `event: type`, `data: json`,
 * heartbeat comments while idle, and returns after the terminal status event,
 * or when the client disconnects.
 */
export async function followEvents(
  stream: SSEStreamingApi,
  opts: FollowOptions,
): Promise<void> {
  const { db, jobId, signal } = opts;
  let cursor = opts.after;
  let lastWrite = Date.now();
  // A job whose row is terminal but whose terminal event we have not seen:
  // the worker may write the row and the event in separate statements, so give
  // the event one more poll before concluding it was sent before `after`.
  let terminalPolls = 0;
  const timer = new PollTimer(signal);
  const unsubscribe = opts.wakeups?.subscribe(jobId, () => timer.notify());
  opts.gauge.openStreams++;
  try {
    // A client resuming at the terminal event (EventSource reconnects after
    // every close) has seen everything: close at once instead of idling.
    if (cursor > 0) {
      const [last] = await listJobEvents(db, jobId, {
        after: cursor - 1,
        limit: 1,
      });
      if (last && last.seq === cursor && isTerminalEvent(last)) return;
    }
    while (!signal.aborted) {
      const rows = await listJobEvents(db, jobId, {
        after: cursor,
        limit: PAGE,
      });
      for (const row of rows) {
        if (signal.aborted) return;
        await stream.writeSSE({
          id: String(row.seq),
          event: row.type,
          data: JSON.stringify(shapeEvent(row)),
        });
        cursor = row.seq;
        lastWrite = Date.now();
        if (isTerminalEvent(row)) return;
      }
      if (rows.length === PAGE) continue;
      if (rows.length === 0) {
        const job = await getJob(db, opts.tenant, jobId);
        if (!job || isTerminalStatus(job.status)) {
          if (++terminalPolls >= 2) return;
        }
      }
      if (Date.now() - lastWrite >= opts.heartbeatMs) {
        // A comment line: EventSource ignores it, proxies see traffic.
        await stream.write(": heartbeat\n\n");
        lastWrite = Date.now();
      }
      await timer.wait(Math.min(opts.pollMs, opts.heartbeatMs));
    }
  } finally {
    unsubscribe?.();
    opts.gauge.openStreams--;
  }
}
