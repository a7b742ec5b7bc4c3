/** Counts one tenant's queued jobs, for the per-tenant queue quota. */
import { and, count, eq } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { jobs } from "./schema.ts";

/** How many of `tenant`'s jobs are `queued` (waiting for a worker). */
export async function countQueuedJobs(
  db: Queryable,
  tenant: string,
): Promise<number> {
  const [row] = await db.select({ n: count() }).from(jobs)
    .where(and(eq(jobs.tenant, tenant), eq(jobs.status, "queued")));
  return row.n;
}
