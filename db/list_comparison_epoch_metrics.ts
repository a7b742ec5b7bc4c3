/** Reads the epoch metrics of every job of a comparison. */
import { asc, eq, inArray } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { type EpochMetricRow, epochMetrics, jobs } from "./schema.ts";

/** The recorded epochs of comparison `comparisonId`'s jobs, by job, then epoch. */
export async function listComparisonEpochMetrics(
  db: Queryable,
  comparisonId: string,
): Promise<EpochMetricRow[]> {
  return await db.select().from(epochMetrics)
    .where(inArray(
      epochMetrics.jobId,
      db.select({ id: jobs.id }).from(jobs)
        .where(eq(jobs.comparisonId, comparisonId)),
    ))
    .orderBy(asc(epochMetrics.jobId), asc(epochMetrics.epoch));
}
