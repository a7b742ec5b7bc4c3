/**
 * A job's event log: GET /v1/jobs/{id}/events pages through it as JSON, and
 * GET /v1/jobs/{id}/events/stream follows it live over SSE. Two operations,
 * so that a generated client gets one response type from each. The JSON path
 * still streams for `Accept: text/event-stream`, as it did before the stream
 * had a path of its own. POST /v1/jobs/{id}/stream-token issues the `?token=`
 * that lets a browser's EventSource, which cannot send Authorization, open
 * the stream.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import {
  type Db,
  isTerminalStatus,
  type JobRow,
  listJobEvents,
} from "../db/mod.ts";
import {
  DATABASE_UNAVAILABLE_RESPONSE,
  fieldErrors,
  FORBIDDEN_ORIGIN_RESPONSE,
  MISDIRECTED_RESPONSE,
  problemResponse,
  validationError,
} from "./problem.ts";
import { isTerminalEvent, JobEventSchema, shapeEvent } from "./_event_shape.ts";
import { findJob, JobIdParam } from "./_job_lookup.ts";
import { type AppDeps, BEARER_SECURITY, newRouter } from "./_router.ts";
import { jobFeed } from "./_job_feed.ts";
import { type FollowOptions, streamFeed } from "./_sse_follow.ts";
import { intParamOr, isPgInt, PG_INT_MAX } from "./_int_param.ts";
import { STREAM_TOKEN_PARAM } from "./_stream_token.ts";

const errors = {
  401: problemResponse("missing or invalid API key"),
  421: MISDIRECTED_RESPONSE,
  404: problemResponse("no such job for this tenant"),
  503: DATABASE_UNAVAILABLE_RESPONSE,
};

// Checked as text: a seq past int4 would reach Postgres and fail there.
const LastEventId = z.string().regex(/^\d{1,10}$/).refine(isPgInt, {
  error:
    `Last-Event-ID must be an event seq (an integer from 0 to ${PG_INT_MAX})`,
}).optional().openapi({
  description:
    "resume point: the `id:` of the last event received (EventSource sends it by itself); wins over `after`",
});

const afterParam = intParamOr("after", 0, 0).openapi({
  description: "only events with a greater seq",
});

const list = createRoute({
  method: "get",
  path: "/v1/jobs/{id}/events",
  operationId: "listJobEvents",
  tags: ["events"],
  summary: "A page of the job's events, oldest first",
  description: [
    "Events with seq > `after`, oldest first, at most `limit`; `has_more` says whether another page follows.",
    "To follow the job live, use streamJobEvents (`/v1/jobs/{id}/events/stream`).",
    "For clients written before that path existed, this one still answers `Accept: text/event-stream` with the same stream.",
  ].join(" "),
  security: BEARER_SECURITY,
  request: {
    params: JobIdParam,
    query: z.object({
      after: afterParam,
      limit: intParamOr("limit", 100, 1, 1000).openapi({
        description: "page size",
      }),
    }),
  },
  responses: {
    200: {
      description: "a page of events",
      content: {
        "application/json": {
          schema: z.object({
            data: z.array(JobEventSchema),
            has_more: z.boolean(),
          }).openapi("JobEventPage"),
        },
      },
    },
    400: problemResponse("invalid query"),
    ...errors,
  },
});

const stream = createRoute({
  method: "get",
  path: "/v1/jobs/{id}/events/stream",
  operationId: "streamJobEvents",
  tags: ["events"],
  summary: "Follow the job's events live (server-sent events)",
  description: [
    "Each frame is one JobEvent: `id:` its seq, `event:` its type, `data:` the event JSON.",
    "Every frame is named, so with EventSource listen with addEventListener(type) (onmessage never fires);",
    "a failed job's error comes as `job_error`, never as `error`, which EventSource keeps for lost connections.",
    "The stream starts after `Last-Event-ID` (or `after`), sends `: heartbeat` comments while idle,",
    "and once the job is finished (succeeded, failed or cancelled) sends what is left, a `retry:` line and closes.",
    "A reconnect to a finished job whose Last-Event-ID is at or past its last event is answered 204, which stops EventSource.",
    "Where no Authorization header can be sent (a browser's EventSource), pass `token` from createStreamToken instead.",
  ].join(" "),
  security: [...BEARER_SECURITY, { streamToken: [] }],
  request: {
    params: JobIdParam,
    query: z.object({
      after: afterParam,
      [STREAM_TOKEN_PARAM]: z.string().max(1024).optional().openapi({
        description:
          "a stream token from createStreamToken for this job, in place of the Authorization header; ignored when that header is sent",
      }),
    }),
    headers: z.object({ "last-event-id": LastEventId }),
  },
  responses: {
    200: {
      description: "the event stream",
      content: {
        "text/event-stream": {
          schema: z.string().openapi({
            description: "SSE frames whose `data:` is a JobEvent",
            // OpenAPI 3.1 has no schema for a stream's items: this extension
            // names it, for readers and for tools that look.
            "x-sse-data": { $ref: "#/components/schemas/JobEvent" },
            example:
              'id: 5\nevent: step\ndata: {"seq":5,"type":"step","created_at":"2026-01-01T00:00:00.000Z","data":{"epoch":1,"step":120,"steps":468,"loss":0.73,"phase":"inversion","lr":0.1}}\n\n',
          }),
        },
      },
    },
    204: {
      description:
        "the job is finished and the resume point is at or past its last event: nothing will follow",
    },
    400: problemResponse("invalid `after` or Last-Event-ID"),
    ...errors,
  },
});

const createToken = createRoute({
  method: "post",
  path: "/v1/jobs/{id}/stream-token",
  operationId: "createStreamToken",
  tags: ["events"],
  summary: "A short-lived token that opens this job's event stream",
  description: [
    "For clients that cannot send an Authorization header, chiefly a browser's EventSource:",
    "pass the token as `?token=` to streamJobEvents (`/v1/jobs/{id}/events/stream`).",
    "It opens only that job's stream, for this tenant, until `expires_at` (minutes; STREAM_TOKEN_TTL_S), and no other route.",
    "An expiry during a stream does not end the stream; a reconnect after it needs a new token.",
  ].join(" "),
  security: BEARER_SECURITY,
  request: { params: JobIdParam },
  responses: {
    200: {
      description: "the token",
      headers: z.object({
        "cache-control": z.string().openapi({ example: "no-store" }),
      }),
      content: {
        "application/json": {
          schema: z.object({
            token: z.string().openapi({
              description: "opaque; send as `?token=` on the job's stream",
            }),
            expires_at: z.string().openapi({ format: "date-time" }),
          }).openapi("StreamToken"),
        },
      },
    },
    ...errors,
    403: FORBIDDEN_ORIGIN_RESPONSE,
  },
});

/** Whether the job is finished: by its row, or by its log's last event. */
async function finished(db: Db, job: JobRow): Promise<boolean> {
  if (isTerminalStatus(job.status)) return true;
  const [last] = await listJobEvents(db, job.id, {
    after: job.lastEventSeq - 1,
    limit: 1,
  });
  return last !== undefined && isTerminalEvent(last);
}

/**
 * The SSE answer for `jobId` from seq `from`: 204 when the job is finished
 * and nothing is left (EventSource reconnects after every close, and only a
 * 204 makes it stop), else the stream.
 */
async function openStream(
  c: Context,
  db: Db,
  jobId: string,
  from: number,
  follow: FollowOptions,
): Promise<Response> {
  const tenant = c.get("tenant") as string;
  const job = await findJob(db, tenant, jobId);
  if (from >= job.lastEventSeq && await finished(db, job)) {
    return c.body(null, 204);
  }
  return streamFeed(c, jobFeed(db, tenant, job.id, from), follow, "SSE stream");
}

/** The events routes. */
export function eventRoutes(
  { db, options, counters, wakeups, streamTokens }: AppDeps,
) {
  const follow: FollowOptions = {
    pollMs: options.ssePollMs,
    heartbeatMs: options.sseHeartbeatMs,
    gauge: counters,
    wakeups,
  };
  return newRouter()
    .openapi(list, async (c) => {
      const { id } = c.req.valid("param");
      const { after, limit } = c.req.valid("query");
      if (c.req.header("accept")?.includes("text/event-stream")) {
        const header = LastEventId.safeParse(c.req.header("last-event-id"));
        if (!header.success) {
          throw validationError(
            fieldErrors(
              header.error.issues.map((i) => ({
                ...i,
                path: ["last-event-id"],
              })),
              "header",
            ),
          );
        }
        // EventSource resends the original URL on reconnect, so the header
        // is the fresher resume point and wins over the query.
        const from = header.data !== undefined ? Number(header.data) : after;
        // Not in the operation's declared responses: this is the legacy
        // stream, documented on streamJobEvents.
        // deno-lint-ignore no-explicit-any
        return await openStream(c, db, id, from, follow) as any;
      }
      await findJob(db, c.get("tenant"), id);
      const rows = await listJobEvents(db, id, { after, limit: limit + 1 });
      return c.json({
        data: rows.slice(0, limit).map(shapeEvent),
        has_more: rows.length > limit,
      }, 200);
    })
    .openapi(stream, async (c) => {
      const { id } = c.req.valid("param");
      const lastEventId = c.req.valid("header")["last-event-id"];
      const from = lastEventId !== undefined
        ? Number(lastEventId)
        : c.req.valid("query").after;
      return await openStream(c, db, id, from, follow);
    })
    .openapi(createToken, async (c) => {
      const tenant = c.get("tenant");
      const job = await findJob(db, tenant, c.req.valid("param").id);
      const { token, expiresAt } = await streamTokens.issue(tenant, job.id);
      // A credential: no cache may keep it.
      c.header("cache-control", "no-store");
      return c.json({ token, expires_at: expiresAt.toISOString() }, 200);
    });
}
