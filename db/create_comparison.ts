/** Creates a comparison and all its jobs, idempotently per (tenant, key). */
import { and, eq, sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { JOB_EVENTS_CHANNEL, JOBS_CHANNEL } from "./notify.ts";
import { jsonParam, mapRow } from "./_rows.ts";
import { type ComparisonRow, comparisons } from "./schema.ts";

/** What {@link createComparison} needs. */
export interface NewComparison {
  tenant: string;
  /** The shared spec, without optimizer and seed. */
  spec: Record<string, unknown>;
  optimizers: Record<string, unknown>[];
  seeds: number[];
  target?: ComparisonRow["target"];
  idempotencyKey?: string;
  /** One full job spec per (optimizer, seed), in the order to queue them. */
  jobSpecs: Record<string, unknown>[];
  maxAttempts: number;
}

/**
 * Inserts the comparison, its queued jobs and their first `status` events,
 * and wakes workers, in one statement: a failure leaves no half-made
 * comparison. A second call with the same tenant and key inserts nothing
 * (the jobs are selected from the comparison insert, which the unique index
 * turns into a no-op) and returns the first comparison with `created: false`.
 */
export async function createComparison(
  db: Queryable,
  c: NewComparison,
): Promise<{ comparison: ComparisonRow; created: boolean }> {
  const [inserted] = await db.execute<Record<string, unknown>>(sql`
    with cmp as (
      insert into comparisons
        (tenant, spec, optimizers, seeds, target, idempotency_key)
      values (${c.tenant}, ${jsonParam(c.spec)}::jsonb,
        ${jsonParam(c.optimizers)}::jsonb, ${jsonParam(c.seeds)}::jsonb,
        ${c.target ? jsonParam(c.target) : null}::jsonb,
        ${c.idempotencyKey ?? null}::text)
      on conflict (tenant, idempotency_key) do nothing
      returning *
    ), ins as (
      insert into jobs
        (tenant, spec, max_attempts, last_event_seq, comparison_id)
      select cmp.tenant, s.spec, ${c.maxAttempts}::int, 1, cmp.id
      from cmp, jsonb_array_elements(${jsonParam(c.jobSpecs)}::jsonb)
        with ordinality as s(spec, n)
      order by s.n
      returning id
    ), event as (
      insert into job_events (job_id, seq, type, data)
      select id, 1, 'status', '{"status": "queued"}'::jsonb from ins
    ), wake as (
      select pg_notify(${JOBS_CHANNEL}, id::text),
        pg_notify(${JOB_EVENTS_CHANNEL}, id::text)
      from ins
    )
    -- A plain CTE runs only when referenced; this makes the NOTIFYs happen.
    select cmp.*, (select count(*) from wake) as notified from cmp`);
  if (inserted) {
    return { comparison: mapRow(comparisons, inserted), created: true };
  }
  const [existing] = await db.select().from(comparisons).where(and(
    eq(comparisons.tenant, c.tenant),
    eq(comparisons.idempotencyKey, c.idempotencyKey!),
  ));
  return { comparison: existing, created: false };
}
