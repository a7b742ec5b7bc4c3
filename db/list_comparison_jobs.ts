/** Reads the jobs a comparison created. */
import { asc, eq } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { type JobRow, jobs } from "./schema.ts";

/** Every job of comparison `comparisonId` (the caller has checked its tenant). */
export async function listComparisonJobs(
  db: Queryable,
  comparisonId: string,
): Promise<JobRow[]> {
  return await db.select().from(jobs)
    .where(eq(jobs.comparisonId, comparisonId))
    .orderBy(asc(jobs.createdAt), asc(jobs.id));
}
