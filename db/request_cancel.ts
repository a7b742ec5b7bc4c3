/** Cancellation as the API asks for it. */
import { and, eq, inArray, sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { appendJobEvent } from "./append_job_event.ts";
import { getJob } from "./get_job.ts";
import { isUuid } from "./_uuid.ts";
import { type JobRow, jobs } from "./schema.ts";

/**
 * Requests cancellation of `tenant`'s job `id`; idempotent. A queued job is
 * cancelled at once; a running one becomes `cancelling` and its worker stops
 * within one step; anything else is returned unchanged. Undefined when the
 * job is not the tenant's.
 */
export async function requestCancel(
  db: Queryable,
  tenant: string,
  id: string,
): Promise<JobRow | undefined> {
  if (!isUuid(id)) return undefined;
  return await db.transaction(async (tx) => {
    // The CASE is evaluated on the row version the UPDATE finally locks, so a
    // claim racing with this request yields `cancelling`, never a lost cancel.
    const [row] = await tx.update(jobs).set({
      status: sql`case when ${jobs.status} = 'queued'
        then 'cancelled'::job_status else 'cancelling'::job_status end`,
      cancelRequestedAt: sql`coalesce(${jobs.cancelRequestedAt}, now())`,
      finishedAt: sql`case when ${jobs.status} = 'queued'
        then now() else ${jobs.finishedAt} end`,
    }).where(and(
      eq(jobs.id, id),
      eq(jobs.tenant, tenant),
      inArray(jobs.status, ["queued", "running"]),
    )).returning();
    if (!row) return await getJob(tx, tenant, id);
    const event = await appendJobEvent(tx, id, "status", {
      status: row.status,
    });
    return { ...row, lastEventSeq: event.seq };
  });
}
