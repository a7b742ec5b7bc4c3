/** One job's event log as an SSE feed: every event, `id:` its seq. */
import { type Db, getJob, isTerminalStatus, listJobEvents } from "../db/mod.ts";
import { isTerminalEvent, shapeEvent } from "./_event_shape.ts";
import type { EventFeed, FeedPage } from "./_sse_follow.ts";

/** Rows fetched per query; a backlog is drained in pages without sleeping. */
const PAGE = 500;

/** The events of `jobId` after seq `after`, up to and including the terminal one. */
export function jobFeed(
  db: Db,
  tenant: string,
  jobId: string,
  after: number,
): EventFeed {
  let cursor = after;
  let resumed = after > 0;
  const finished: FeedPage = { frames: [], full: false, done: true };
  return {
    jobIds: [jobId],
    async read() {
      if (resumed) {
        resumed = false;
        // A client resuming at the terminal event (EventSource reconnects
        // after every close) has seen everything: close at once instead of
        // idling.
        const [last] = await listJobEvents(db, jobId, {
          after: cursor - 1,
          limit: 1,
        });
        if (last && last.seq === cursor && isTerminalEvent(last)) {
          return finished;
        }
      }
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
        page.frames.push({
          id: String(row.seq),
          event: row.type,
          data: JSON.stringify(shapeEvent(row)),
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
