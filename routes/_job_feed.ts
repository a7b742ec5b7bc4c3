/** One job's event log as an SSE feed: every event, `id:` its seq. */
import { type Db, getJob, isTerminalStatus, listJobEvents } from "../db/mod.ts";
import { isTerminalEvent, shapeEvent } from "./_event_shape.ts";
import type { EventFeed, FeedPage } from "./_sse_follow.ts";

/** Rows fetched per query; a backlog is drained in pages without sleeping. */
const PAGE = 500;

/**
 * The events of `jobId` after seq `after`, up to and including the terminal
 * one. (A resume at or past the end of a finished job never gets here: it is
 * answered 204, routes/events.ts.)
 */
export function jobFeed(
  db: Db,
  tenant: string,
  jobId: string,
  after: number,
): EventFeed {
  let cursor = after;
  return {
    jobIds: [jobId],
    async read() {
      const rows = await listJobEvents(db, jobId, {
        after: cursor,
        limit: PAGE,
      });
      const page: FeedPage = {
        frames: [],
        full: rows.length === PAGE,
        done: false,
      };
      for (const row of rows) {
        const event = shapeEvent(row);
        page.frames.push({
          id: String(row.seq),
          event: event.type,
          data: JSON.stringify(event),
        });
        cursor = row.seq;
        if (isTerminalEvent(row)) return { ...page, done: true };
      }
      return page;
    },
    async allTerminal() {
      const job = await getJob(db, tenant, jobId);
      return !job || isTerminalStatus(job.status);
    },
  };
}
