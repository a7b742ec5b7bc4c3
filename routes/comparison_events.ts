/** GET /v1/comparisons/{id}/events: every job's epoch and status events over one SSE stream. */
import { createRoute, z } from "@hono/zod-openapi";
import { listComparisonJobs } from "../db/mod.ts";
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
import { streamFeed } from "./_sse_follow.ts";

const events = createRoute({
  method: "get",
  path: "/v1/comparisons/{id}/events",
  summary: "The comparison's jobs' epoch and status events, as SSE",
  description: [
    "Relays the `epoch` and `status` events of every job of the comparison; each frame's `data:` is a ComparisonEvent,",
    "a job event tagged with `job_id`, `optimizer` (its index), `optimizer_name` and `seed`, and `event:` is its type.",
    "Each job's events come in seq order, different jobs' roughly in the order they were written.",
    "The `id:` is a cursor: each job's last relayed seq, in the order of the comparison's `jobs`, joined by dots;",
    "send it back as Last-Event-ID to resume every job where it stopped.",
    "The stream sends `: heartbeat` comments while idle and closes once every job is terminal",
    "(succeeded, failed or cancelled) and its events are sent.",
  ].join(" "),
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
            example:
              'id: 7.0\nevent: epoch\ndata: {"seq":7,"type":"epoch","created_at":"2026-01-01T00:00:00.000Z","data":{"epoch":1,"phase":"train","steps":4,"seconds":0.2,"train_loss":1.05,"val_loss":1.01,"val_accuracy":0.56},"job_id":"0196f3a2-7c1e-7d0a-9a53-2b1f0c8e4d11","optimizer":0,"optimizer_name":"sgd","seed":1}\n\n',
          }),
        },
      },
    },
    400: problemResponse(
      "a Last-Event-ID that is not a cursor of this comparison",
    ),
    401: problemResponse("missing or invalid API key"),
    421: MISDIRECTED_RESPONSE,
    404: problemResponse("no such comparison for this tenant"),
    503: DATABASE_UNAVAILABLE_RESPONSE,
  },
});

/** The comparison events route. */
export function comparisonEventRoutes(
  { db, options, counters, wakeups }: AppDeps,
) {
  const router = newRouter();
  // The frames' JSON has no response of its own to hang on: a component
  // lets generated clients type it.
  router.openAPIRegistry.register("ComparisonEvent", ComparisonEventSchema);
  return router.openapi(events, async (c) => {
    const comparison = await findComparison(
      db,
      c.get("tenant"),
      c.req.valid("param").id,
    );
    const runs = comparisonRuns(
      comparison,
      await listComparisonJobs(db, comparison.id),
    );
    const lastEventId = c.req.valid("header")["last-event-id"];
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
    return streamFeed(c, comparisonFeed(db, comparison.id, runs, after), {
      pollMs: options.ssePollMs,
      heartbeatMs: options.sseHeartbeatMs,
      gauge: counters,
      wakeups,
    }, "comparison SSE stream");
  });
}
