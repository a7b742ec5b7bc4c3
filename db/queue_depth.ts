/** The queue's depth and the wait of its oldest job, all tenants, for GET /metrics. */
import { sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";

/** What is waiting for a worker now. */
export interface QueueDepth {
  /** Jobs in status `queued`. */
  queued: number;
  /** Seconds the oldest queued job has waited; 0 when none waits. */
  oldestSeconds: number;
}

/**
 * Counts queued jobs and measures the oldest one's wait, by the database's
 * clock (the one created_at was stamped with). The partial claim index
 * (live statuses) serves it, so terminal jobs are never read.
 */
export async function queueDepth(db: Queryable): Promise<QueueDepth> {
  const [row] = await db.execute<{ queued: number; oldest: number | null }>(
    sql`
    select count(*)::int as queued,
      extract(epoch from now() - min(created_at))::float8 as oldest
    from jobs where status = 'queued'`,
  );
  return { queued: row.queued, oldestSeconds: Math.max(0, row.oldest ?? 0) };
}
