/** GET /v1/jobs/{id}/events: a JSON page of the event log, or a live SSE stream. */
import { createRoute, z } from "@hono/zod-openapi";
import { listJobEvents } from "../db/mod.ts";
import {
  DATABASE_UNAVAILABLE_RESPONSE,
  MISDIRECTED_RESPONSE,
  problemResponse,
} from "./problem.ts";
import { JobEventSchema, shapeEvent } from "./_event_shape.ts";
import { findJob, JobIdParam } from "./_job_lookup.ts";
import { type AppDeps, BEARER_SECURITY, newRouter } from "./_router.ts";
import { jobFeed } from "./_job_feed.ts";
import { streamFeed } from "./_sse_follow.ts";
import { intParamOr, isPgInt, PG_INT_MAX } from "./_int_param.ts";

const events = createRoute({
  method: "get",
  path: "/v1/jobs/{id}/events",
  summary:
    "The job's events: a JSON page, or SSE with Accept: text/event-stream",
  description: [
    "As JSON: events with seq > `after`, oldest first, at most `limit`.",
    "As SSE: each event is sent with `id:` = seq, `event:` = type and `data:` = the event JSON;",
    "the stream resumes after `Last-Event-ID` (or `after`), sends `: heartbeat` comments while idle,",
    "and closes after the terminal `status` event (succeeded, failed or cancelled).",
  ].join(" "),
  security: BEARER_SECURITY,
  request: {
    params: JobIdParam,
    query: z.object({
      after: intParamOr("after", 0, 0).openapi({
        description: "only events with a greater seq",
      }),
      limit: intParamOr("limit", 100, 1, 1000).openapi({
        description: "page size (JSON only)",
      }),
    }),
    headers: z.object({
      accept: z.string().optional(),
      // Checked as text: a seq past int4 would reach Postgres and fail there.
      "last-event-id": z.string().regex(/^\d{1,10}$/).refine(isPgInt, {
        error:
          `Last-Event-ID must be an event seq (an integer from 0 to ${PG_INT_MAX})`,
      }).optional().openapi({
        description: "SSE resume point; wins over `after`",
      }),
    }),
  },
  responses: {
    200: {
      description: "a page of events, or an event stream",
      content: {
        "application/json": {
          schema: z.object({
            data: z.array(JobEventSchema),
            has_more: z.boolean(),
          }).openapi("JobEventPage"),
        },
        "text/event-stream": {
          schema: z.string().openapi({
            example:
              'id: 5\nevent: step\ndata: {"seq":5,"type":"step","created_at":"2026-01-01T00:00:00.000Z","data":{"epoch":1,"step":120,"steps":468,"loss":0.73,"phase":"inversion"}}\n\n',
          }),
        },
      },
    },
    400: problemResponse("invalid query or Last-Event-ID"),
    401: problemResponse("missing or invalid API key"),
    421: MISDIRECTED_RESPONSE,
    404: problemResponse("no such job for this tenant"),
    503: DATABASE_UNAVAILABLE_RESPONSE,
  },
});

/** The events route. */
export function eventRoutes({ db, options, counters, wakeups }: AppDeps) {
  return newRouter().openapi(events, async (c) => {
    const { id } = c.req.valid("param");
    const { after, limit } = c.req.valid("query");
    const headers = c.req.valid("header");
    const tenant = c.get("tenant");
    await findJob(db, tenant, id);

    if (!headers.accept?.includes("text/event-stream")) {
      const rows = await listJobEvents(db, id, { after, limit: limit + 1 });
      return c.json({
        data: rows.slice(0, limit).map(shapeEvent),
        has_more: rows.length > limit,
      }, 200);
    }

    const lastEventId = headers["last-event-id"];
    // EventSource resends the original URL on reconnect, so the header is the
    // fresher resume point and wins over the query.
    const from = lastEventId !== undefined ? Number(lastEventId) : after;
    return streamFeed(c, jobFeed(db, tenant, id, from), {
      pollMs: options.ssePollMs,
      heartbeatMs: options.sseHeartbeatMs,
      gauge: counters,
      wakeups,
    }, "SSE stream");
  });
}
