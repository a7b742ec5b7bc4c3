/**
 * Every job of a comparison as one SSE feed: their `epoch` and `status`
 * events, each tagged with its job, optimizer and seed; it ends once every
 * job is terminal and its events are sent.
 *
 * Jobs number their events separately, so no single seq orders the stream.
 * The SSE id is instead a cursor holding each job's last relayed seq, in
 * table order (`3.0.12.7`): Last-Event-ID resumes every job exactly where
 * the client left it.
 */
import { z } from "@hono/zod-openapi";
import {
  type Db,
  type EventRow,
  isTerminalStatus,
  listComparisonEvents,
  listComparisonJobs,
} from "../db/mod.ts";
import type { ComparisonRun } from "./_comparison_lookup.ts";
import {
  isTerminalEvent,
  JOB_EVENT_SCHEMAS,
  shapeEvent,
} from "./_event_shape.ts";
import { isPgInt } from "./_int_param.ts";
import type { EventFeed, FeedPage } from "./_sse_follow.ts";

/** The event types a comparison relays; steps would only add volume. */
export const RELAYED_EVENT_TYPES = ["epoch", "status"] as const;

/** What a relayed event adds to the job event: whose it is. */
const runFields = {
  job_id: z.uuid(),
  optimizer: z.int().openapi({ description: "index into `optimizers`" }),
  optimizer_name: z.string().openapi({ example: "fngd" }),
  seed: z.int(),
};

/** One relayed event: a job's `epoch` or `status` event plus whose it is. */
export const ComparisonEventSchema = z.discriminatedUnion("type", [
  JOB_EVENT_SCHEMAS.epoch.extend(runFields).openapi("ComparisonEpochEvent"),
  JOB_EVENT_SCHEMAS.status.extend(runFields).openapi("ComparisonStatusEvent"),
]).openapi("ComparisonEvent");

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
 * The epoch and status events of `runs` (the comparison's jobs, in table
 * order) after `after` (per run, a seq), `id:` the cursor after each.
 */
export function comparisonFeed(
  db: Db,
  comparisonId: string,
  runs: ComparisonRun[],
  after: number[],
): EventFeed {
  const index = new Map(runs.map((r, i) => [r.job.id, i]));
  const cursor = [...after];
  const finished = new Set<string>();
  return {
    jobIds: runs.map((r) => r.job.id),
    async read() {
      const rows = await listComparisonEvents(
        db,
        runs.map((r, i) => ({ jobId: r.job.id, after: cursor[i] })),
        RELAYED_EVENT_TYPES,
        PAGE_PER_JOB,
      );
      const frames: FeedPage["frames"] = [];
      for (const row of interleave(rows)) {
        const i = index.get(row.jobId)!;
        cursor[i] = row.seq;
        const run = runs[i];
        frames.push({
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
        if (isTerminalEvent(row)) finished.add(row.jobId);
      }
      const perJob = Map.groupBy(rows, (r) => r.jobId).values();
      return {
        frames,
        full: [...perJob].some((q) => q.length === PAGE_PER_JOB),
        done: finished.size === runs.length,
      };
    },
    async allTerminal() {
      const jobs = await listComparisonJobs(db, comparisonId);
      return jobs.every((j) => isTerminalStatus(j.status));
    },
  };
}
