/** Training steps per second by optimizer, from recorded epochs, for GET /metrics. */
import { sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";

/** One optimizer's (and phase's) recent throughput. */
export interface Throughput {
  /** The job spec's optimizer name. */
  optimizer: string;
  /** The engine's phase: `inversion`, `inverse_free` or `train`. */
  phase: string;
  /** Steps over training seconds (evaluation excluded), summed over `epochs`. */
  stepsPerSecond: number;
  /** Epochs it covers (at most the `epochs` asked for). */
  epochs: number;
}

/**
 * For each optimizer and phase, the steps per second of its latest `epochs`
 * finished epochs across all jobs: total steps over total seconds, so a
 * long epoch weighs as much as its time. Latest by count, not by a time
 * window, so a gauge still reads when epochs are rarer than any window.
 */
export async function trainingThroughput(
  db: Queryable,
  epochs: number,
): Promise<Throughput[]> {
  const rows = await db.execute<{
    optimizer: string;
    phase: string;
    steps_per_second: number;
    epochs: number;
  }>(sql`
    with recent as (
      select j.spec #>> '{optimizer,name}' as optimizer, m.phase, m.steps,
        m.seconds, row_number() over (
          partition by j.spec #>> '{optimizer,name}', m.phase
          order by m.created_at desc) as n
      from epoch_metrics m join jobs j on j.id = m.job_id
    )
    select optimizer, phase,
      (sum(steps) / sum(seconds))::float8 as steps_per_second,
      count(*)::int as epochs
    from recent
    where n <= ${epochs}::int and optimizer is not null
    group by optimizer, phase
    having sum(seconds) > 0
    order by optimizer, phase`);
  return rows.map((r) => ({
    optimizer: r.optimizer,
    phase: r.phase,
    stepsPerSecond: r.steps_per_second,
    epochs: r.epochs,
  }));
}
