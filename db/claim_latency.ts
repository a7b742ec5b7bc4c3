/**
 * How long jobs waited in the queue before a worker first claimed them, as
 * a cumulative histogram over every job ever claimed, for GET /metrics.
 */
import { sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";

/** A Prometheus-style histogram: cumulative counts at each upper bound. */
export interface WaitHistogram {
  /** `counts[i]`: claimed jobs that waited at most `bounds[i]` seconds. */
  counts: number[];
  /** Claimed jobs (the +Inf bucket). */
  count: number;
  /** Their waits, summed, in seconds. */
  sum: number;
}

/**
 * Buckets `started_at - created_at` (both stamped by the database: creation,
 * then the first claim, which later claims never move) of every job that has
 * been claimed. Computed from the rows at each call, so it misses no claim,
 * counts none twice, and every API process reports the same numbers.
 * `bounds` must be ascending.
 */
export async function claimLatencyHistogram(
  db: Queryable,
  bounds: readonly number[],
): Promise<WaitHistogram> {
  const buckets = bounds.map((b, i) =>
    sql`count(*) filter (where wait <= ${b}::float8)::int as ${
      sql.raw(`b${i}`)
    }`
  );
  const [row] = await db.execute<Record<string, number>>(sql`
    with waits as (
      select extract(epoch from started_at - created_at)::float8 as wait
      from jobs where started_at is not null
    )
    select count(*)::int as count, coalesce(sum(wait), 0)::float8 as sum,
      ${sql.join(buckets, sql`, `)}
    from waits`);
  return {
    counts: bounds.map((_, i) => row[`b${i}`]),
    count: row.count,
    sum: row.sum,
  };
}
