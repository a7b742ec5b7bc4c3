/** Per-epoch metrics of a job. */
import { asc, desc, eq } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { type EpochMetricRow, epochMetrics } from "./schema.ts";

/** One epoch's numbers, as recorded. */
export type NewEpochMetric = Omit<
  typeof epochMetrics.$inferInsert,
  "jobId" | "createdAt"
>;

/** Records an epoch's metrics; a resumed job re-running an epoch overwrites its row. */
export async function recordEpochMetric(
  db: Queryable,
  jobId: string,
  metric: NewEpochMetric,
): Promise<EpochMetricRow> {
  const [row] = await db.insert(epochMetrics)
    .values({ ...metric, jobId })
    .onConflictDoUpdate({
      target: [epochMetrics.jobId, epochMetrics.epoch],
      set: { ...metric },
    })
    .returning();
  return row;
}

/** Every recorded epoch of `jobId`, in epoch order. */
export async function listEpochMetrics(
  db: Queryable,
  jobId: string,
): Promise<EpochMetricRow[]> {
  return await db.select().from(epochMetrics)
    .where(eq(epochMetrics.jobId, jobId))
    .orderBy(asc(epochMetrics.epoch));
}

/** The last recorded epoch of `jobId`, if any. */
export async function getLatestEpochMetric(
  db: Queryable,
  jobId: string,
): Promise<EpochMetricRow | undefined> {
  const [row] = await db.select().from(epochMetrics)
    .where(eq(epochMetrics.jobId, jobId))
    .orderBy(desc(epochMetrics.epoch))
    .limit(1);
  return row;
}
