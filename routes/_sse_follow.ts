/**
 * Follows job event logs over SSE. The job_events table is the truth and is
 * polled: NOTIFY only wakes a poll early, and never arrives from embedded
 * PGlite. What is followed (one job, or a comparison's jobs) is a feed; the
 * polling, heartbeats and ending are the same for every feed.
 */
import type { Context } from "hono";
import {
  type SSEMessage,
  type SSEStreamingApi,
  streamSSE,
} from "hono/streaming";
import { PollTimer } from "../db/mod.ts";
import type { EventWakeups } from "./_event_wakeups.ts";

/** What one read of a feed found. */
export interface FeedPage {
  /** The frames to send, in order. */
  frames: SSEMessage[];
  /** A full page: more may be waiting, so read again without sleeping. */
  full: boolean;
  /** The stream ends once these frames are sent. */
  done: boolean;
}

/** The events one stream relays. */
export interface EventFeed {
  /** The jobs whose NOTIFYs wake the stream early. */
  jobIds: string[];
  /** Reads what is new since the last read, and moves past it. */
  read(): Promise<FeedPage>;
  /** Whether every followed job's row is terminal (or gone). */
  allTerminal(): Promise<boolean>;
}

/** How a stream polls, and what it reports to. */
export interface FollowOptions {
  pollMs: number;
  heartbeatMs: number;
  /** Holds the number of streams open now (GET /metrics, abort tests). */
  gauge: { openStreams: number };
  /** NOTIFY-driven early wake-ups; polling alone is correct without them. */
  wakeups?: EventWakeups;
}

/**
 * The reconnection delay a finished stream hands EventSource. It reconnects
 * after every close, and that request only fetches the 204 that stops it, so
 * a second is neither a hammering loop nor a long wait.
 */
export const SSE_RETRY_MS = 1000;

/**
 * Writes the feed's frames, heartbeat comments while idle, and returns once
 * the feed is done (after a `retry:` line) or the client disconnects
 * (`signal`).
 */
export async function followFeed(
  stream: SSEStreamingApi,
  feed: EventFeed,
  opts: FollowOptions & { signal: AbortSignal },
): Promise<void> {
  const { signal } = opts;
  let lastWrite = Date.now();
  // A job whose row is terminal but whose terminal event has not been read:
  // the worker may write the row and the event in separate statements, so
  // all-terminal must hold for two polls in a row that find nothing new.
  let terminalPolls = 0;
  const timer = new PollTimer(signal);
  const unsubscribe = feed.jobIds.map((id) =>
    opts.wakeups?.subscribe(id, () => timer.notify())
  );
  // A block with only `retry:` carries no data, so no event is dispatched.
  const end = async () => {
    await stream.write(`retry: ${SSE_RETRY_MS}\n\n`);
  };
  opts.gauge.openStreams++;
  try {
    while (!signal.aborted) {
      const page = await feed.read();
      for (const frame of page.frames) {
        if (signal.aborted) return;
        await stream.writeSSE(frame);
        lastWrite = Date.now();
      }
      if (page.done) return await end();
      if (page.full) continue;
      if (page.frames.length === 0 && await feed.allTerminal()) {
        if (++terminalPolls >= 2) return await end();
      }
      if (Date.now() - lastWrite >= opts.heartbeatMs) {
        // A comment line: EventSource ignores it, proxies see traffic.
        await stream.write(": heartbeat\n\n");
        lastWrite = Date.now();
      }
      await timer.wait(Math.min(opts.pollMs, opts.heartbeatMs));
    }
  } finally {
    for (const stop of unsubscribe) stop?.();
    opts.gauge.openStreams--;
  }
}

/**
 * The SSE response that follows `feed`. A failure while the client is still
 * there is logged (as `what`) and ends the stream: the client resumes by id.
 */
export function streamFeed(
  c: Context,
  feed: EventFeed,
  opts: FollowOptions,
  what: string,
): Response {
  // Tell proxies such as nginx not to buffer the stream.
  c.header("X-Accel-Buffering", "no");
  return streamSSE(c, async (stream) => {
    // Deno cancels the response body when the client disconnects, which
    // hono reports as onAbort: that ends the polling.
    const gone = new AbortController();
    stream.onAbort(() => gone.abort());
    try {
      await followFeed(stream, feed, { ...opts, signal: gone.signal });
    } catch (err) {
      // A query failing after the client left is expected (pool closing).
      if (!gone.signal.aborted) console.error(`${what} failed:`, err);
    }
  });
}
