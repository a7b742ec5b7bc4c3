/**
 * GET /v1/comparisons/{id}/events/stream: every job's epoch and status events
 * over one SSE stream. GET /v1/comparisons/{id}/events, where the stream
 * lived first, still serves it for existing clients (deprecated).
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { isTerminalStatus, listComparisonJobs } from "../db/mod.ts";
import {
  DATABASE_UNAVAILABLE_RESPONSE,
  MISDIRECTED_RESPONSE,
  problemResponse,
  validationError,
} from "./problem.ts";
import {
  ComparisonEventSchema,
  comparisonFeed,
  parseCursor,
} from "./_comparison_follow.ts";
import {
  ComparisonIdParam,
  comparisonRuns,
  findComparison,
} from "./_comparison_lookup.ts";
import { type AppDeps, BEARER_SECURITY, newRouter } from "./_router.ts";
import { type FollowOptions, streamFeed } from "./_sse_follow.ts";

const DESCRIPTION = [
  "Relays the `epoch` and `status` events of every job of the comparison; each frame's `data:` is a ComparisonEvent,",
  "a job event tagged with `job_id`, `optimizer` (its index), `optimizer_name` and `seed`, and `event:` is its type",
  "(every frame is named: with EventSource, listen with addEventListener).",
  "Each job's events come in seq order, different jobs' roughly in the order they were written.",
  "The `id:` is a cursor: each job's last relayed seq, in the order of the comparison's `jobs`, joined by dots;",
  "send it back as Last-Event-ID to resume every job where it stopped.",
  "The stream sends `: heartbeat` comments while idle; once every job is terminal (succeeded, failed or cancelled)",
  "and its events are sent, it sends a `retry:` line and closes. A reconnect whose Last-Event-ID already holds",
  "every finished job's last event is answered 204, which stops EventSource.",
].join(" ");

/** What the stream operation declares at either path. */
const streamOperation = {
  method: "get" as const,
  tags: ["comparisons"],
  description: DESCRIPTION,
  security: BEARER_SECURITY,
  request: {
    params: ComparisonIdParam,
    headers: z.object({
      "last-event-id": z.string().max(300).optional().openapi({
        description:
          "resume point: the `id:` of the last event received (one seq per job, dot-separated)",
      }),
    }),
  },
  responses: {
    200: {
      description: "an event stream",
      content: {
        "text/event-stream": {
          schema: z.string().openapi({
            description: "SSE frames whose `data:` is a ComparisonEvent",
            // OpenAPI 3.1 has no schema for a stream's items: this extension
            // names it, for readers and for tools that look.
            "x-sse-data": { $ref: "#/components/schemas/ComparisonEvent" },
            example:
              'id: 7.0\nevent: epoch\ndata: {"seq":7,"type":"epoch","created_at":"2026-01-01T00:00:00.000Z","data":{"epoch":1,"phase":"train","steps":4,"seconds":0.2,"train_loss":1.05,"val_loss":1.01,"val_accuracy":0.56,"lr":0.1},"job_id":"0196f3a2-7c1e-7d0a-9a53-2b1f0c8e4d11","optimizer":0,"optimizer_name":"sgd","seed":1}\n\n',
          }),
        },
      },
    },
    204: {
      description:
        "every job is finished and Last-Event-ID holds each one's last event: nothing will follow",
    },
    400: problemResponse(
      "a Last-Event-ID that is not a cursor of this comparison",
    ),
    401: problemResponse("missing or invalid API key"),
    421: MISDIRECTED_RESPONSE,
    404: problemResponse("no such comparison for this tenant"),
    503: DATABASE_UNAVAILABLE_RESPONSE,
  },
};

const stream = createRoute({
  ...streamOperation,
  path: "/v1/comparisons/{id}/events/stream",
  operationId: "streamComparisonEvents",
  summary:
    "Follow the comparison's jobs' epoch and status events live (server-sent events)",
});

const legacy = createRoute({
  ...streamOperation,
  path: "/v1/comparisons/{id}/events",
  operationId: "streamComparisonEventsLegacy",
  summary: "The same stream at its first path (use streamComparisonEvents)",
  deprecated: true,
});

/** The comparison events routes. */
export function comparisonEventRoutes(
  { db, options, counters, wakeups }: AppDeps,
) {
  const follow: FollowOptions = {
    pollMs: options.ssePollMs,
    heartbeatMs: options.sseHeartbeatMs,
    gauge: counters,
    wakeups,
  };
  const open = async (c: Context, id: string, lastEventId?: string) => {
    const comparison = await findComparison(db, c.get("tenant"), id);
    const jobs = await listComparisonJobs(db, comparison.id);
    const runs = comparisonRuns(comparison, jobs);
    const after = lastEventId === undefined
      ? runs.map(() => 0)
      : parseCursor(lastEventId, runs.length);
    if (!after) {
      throw validationError([{
        path: "last-event-id",
        in: "header",
        message:
          `Last-Event-ID must be ${runs.length} dot-separated event seqs (one per job), got "${lastEventId}"`,
      }]);
    }
    // A job's terminal status is its last event, and status events are
    // relayed: a cursor at every finished job's last seq has seen it all.
    const finished = runs.every((r, i) =>
      isTerminalStatus(r.job.status) && after[i] >= r.job.lastEventSeq
    );
    if (finished) return c.body(null, 204);
    return streamFeed(
      c,
      comparisonFeed(db, comparison.id, runs, after),
      follow,
      "comparison SSE stream",
    );
  };
  const router = newRouter();
  // The frames' JSON has no response of its own to hang on: a component
  // lets generated clients type it.
  router.openAPIRegistry.register("ComparisonEvent", ComparisonEventSchema);
  return router
    .openapi(
      stream,
      (c) =>
        open(
          c,
          c.req.valid("param").id,
          c.req.valid("header")["last-event-id"],
        ),
    )
    .openapi(
      legacy,
      (c) =>
        open(
          c,
          c.req.valid("param").id,
          c.req.valid("header")["last-event-id"],
        ),
    );
}
