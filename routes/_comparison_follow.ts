/**
 * Follows every job of a comparison over one SSE stream: their `epoch` and
 * `status` events, each tagged with its job, optimizer and seed. Like a
 * job's stream it polls job_events (NOTIFY only wakes it early), and it ends
 * once every job is terminal.
 *
 * Jobs number their events separately, so no single seq orders the stream.
 * The SSE id is instead a cursor holding each job's last relayed seq, in
 * table order (`3.0.12.7`): Last-Event-ID resumes every job exactly where
 * the client left it.
 */
import type { SSEStreamingApi } from "hono/streaming";
import { z } from "@hono/zod-openapi";
import {
  type Db,
  type EventRow,
  isTerminalStatus,
  listComparisonEvents,
  listComparisonJobs,
} from "../db/mod.ts";
import type { ComparisonRun } from "./_comparison_lookup.ts";
import { isTerminalEvent, JobEventSchema, shapeEvent } from "./_event_shape.ts";
import type { EventWakeups } from "./_event_wakeups.ts";
import { isPgInt } from "./_int_param.ts";
import { PollTimer } from "./_poll_timer.ts";

/** The event types a comparison relays; steps would only add volume. */
export const RELAYED_EVENT_TYPES = ["epoch", "status"] as const;

/** One relayed event: a job event plus whose it is. */
export const ComparisonEventSchema = JobEventSchema.extend({
  job_id: z.uuid(),
  optimizer: z.int().openapi({ description: "index into `optimizers`" }),
  optimizer_name: z.string().openapi({ example: "fngd" }),
  seed: z.int(),
}).openapi("ComparisonEvent");

/** Events read per job and query; a backlog is drained without sleeping. */
const PAGE_PER_JOB = 100;

/** Each job's last relayed seq, in run order, as an SSE id. */
export function formatCursor(seqs: number[]): string {
  return seqs.join(".");
}

/** A Last-Event-ID for `jobs` jobs, or undefined when it is not one. */
export function parseCursor(
  text: string,
  jobs: number,
): number[] | undefined {
  const parts = text.split(".");
  // Each seq within int4, the column's type: a larger one would reach
  // Postgres and fail there instead of here.
  return parts.length === jobs && parts.every(isPgInt)
    ? parts.map(Number)
    : undefined;
}

/** What one stream needs to know. */
export interface ComparisonFollowOptions {
  db: Db;
  comparisonId: string;
  /** The comparison's jobs, in table order. */
  runs: ComparisonRun[];
  /** Per run, send events with seq greater than this. */
  after: number[];
  pollMs: number;
  heartbeatMs: number;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  /** Holds the number of streams open now (GET /metrics). */
  gauge: { openStreams: number };
  /** NOTIFY-driven early wake-ups; polling alone is correct without them. */
  wakeups?: EventWakeups;
}

/**
 * Orders one page for sending: each job's events stay in seq order (the
 * cursor relies on it), and across jobs the earliest created goes first.
 */
function interleave(rows: EventRow[]): EventRow[] {
  const queues = [...Map.groupBy(rows, (r) => r.jobId).values()];
  const out: EventRow[] = [];
  while (out.length < rows.length) {
    let pick = queues.findIndex((q) => q.length > 0);
    for (let i = pick + 1; i < queues.length; i++) {
      if (
        queues[i].length && queues[i][0].createdAt < queues[pick][0].createdAt
      ) {
        pick = i;
      }
    }
    out.push(queues[pick].shift()!);
  }
  return out;
}

/**
 * Writes the runs' epoch and status events after `after` as `id: cursor`,
 * `event: type`, `data: json`, heartbeat comments while idle, and returns
 * once every job is terminal and its events are sent, or when the client
 * disconnects.
 */
export async function followComparison(
  stream: SSEStreamingApi,
  opts: ComparisonFollowOptions,
): Promise<void> {
  const { db, runs, signal } = opts;
  const index = new Map(runs.map((r, i) => [r.job.id, i]));
  const cursor = [...opts.after];
  const finished = new Set<string>();
  let lastWrite = Date.now();
  // As for one job: a job row may turn terminal a statement before its
  // terminal event is written, so all-terminal must hold for two polls in a
  // row that find nothing new before the stream ends.
  let terminalPolls = 0;
  const timer = new PollTimer(signal);
  const unsubscribe = runs.map((r) =>
    opts.wakeups?.subscribe(r.job.id, () => timer.notify())
  );
  opts.gauge.openStreams++;
  try {
    while (!signal.aborted) {
      const rows = await listComparisonEvents(
        db,
        runs.map((r, i) => ({ jobId: r.job.id, after: cursor[i] })),
        RELAYED_EVENT_TYPES,
        PAGE_PER_JOB,
      );
      for (const row of interleave(rows)) {
        if (signal.aborted) return;
        const i = index.get(row.jobId)!;
        cursor[i] = row.seq;
        const run = runs[i];
        await stream.writeSSE({
          id: formatCursor(cursor),
          event: row.type,
          data: JSON.stringify({
            ...shapeEvent(row),
            job_id: run.job.id,
            optimizer: run.optimizer,
            optimizer_name: run.optimizerName,
            seed: run.seed,
          }),
        });
        lastWrite = Date.now();
        if (isTerminalEvent(row)) finished.add(row.jobId);
      }
      if (finished.size === runs.length) return;
      const counts = Map.groupBy(rows, (r) => r.jobId);
      if ([...counts.values()].some((q) => q.length === PAGE_PER_JOB)) {
        continue;
      }
      if (rows.length === 0) {
        const jobs = await listComparisonJobs(db, opts.comparisonId);
        if (jobs.every((j) => isTerminalStatus(j.status))) {
          if (++terminalPolls >= 2) return;
        }
      }
      if (Date.now() - lastWrite >= opts.heartbeatMs) {
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
