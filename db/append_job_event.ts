/** Appends one event to a job's log with the next gap-free seq. */
import { eq, sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { JOB_EVENTS_CHANNEL, notify } from "./notify.ts";
import { type EventRow, jobEvents, jobs } from "./schema.ts";

/**
 * Appends `type`/`data` to the log of `jobId` and NOTIFYs `job_events`.
 *
 * The seq comes from `jobs.last_event_seq`, bumped by an UPDATE in the same
 * transaction as the insert: the row lock serialises concurrent appenders of
 * one job, and a failed insert rolls the bump back, so seqs never skip.
 * @throws {Error} when the job does not exist.
 */
export async function appendJobEvent(
  db: Queryable,
  jobId: string,
  type: string,
  data: Record<string, unknown>,
): Promise<EventRow> {
  return await db.transaction(async (tx) => {
    const [bumped] = await tx.update(jobs)
      .set({ lastEventSeq: sql`${jobs.lastEventSeq} + 1` })
      .where(eq(jobs.id, jobId))
      .returning({ seq: jobs.lastEventSeq });
    if (!bumped) throw new Error(`job ${jobId} not found`);
    const [row] = await tx.insert(jobEvents)
      .values({ jobId, seq: bumped.seq, type, data })
      .returning();
    await notify(tx, JOB_EVENTS_CHANNEL, jobId);
    return row;
  });
}
