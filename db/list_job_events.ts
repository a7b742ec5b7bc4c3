/** Reads a job's event log in seq order. */
import { and, asc, eq, gt } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { isUuid } from "./_uuid.ts";
import { type EventRow, jobEvents } from "./schema.ts";

/**
 * Events of `jobId` with seq greater than `after` (default 0), oldest first;
 * only those of `type` when given.
 */
export async function listJobEvents(
  db: Queryable,
  jobId: string,
  opts: { after?: number; limit: number; type?: string },
): Promise<EventRow[]> {
  if (!isUuid(jobId)) return [];
  return await db.select().from(jobEvents)
    .where(and(
      eq(jobEvents.jobId, jobId),
      gt(jobEvents.seq, opts.after ?? 0),
      opts.type === undefined ? undefined : eq(jobEvents.type, opts.type),
    ))
    .orderBy(asc(jobEvents.seq))
    .limit(opts.limit);
}
