/** Job counts per status over every tenant, for the /metrics gauge. */
import { count } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import type { JobStatus } from "./job_status.ts";
import { jobs } from "./schema.ts";

/** How many jobs are in each status; statuses with no job are absent. */
export async function countJobsByStatus(
  db: Queryable,
): Promise<Partial<Record<JobStatus, number>>> {
  const rows = await db.select({ status: jobs.status, n: count() })
    .from(jobs)
    .groupBy(jobs.status);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}
