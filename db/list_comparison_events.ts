/** Reads new events of several jobs at once, for a comparison's stream. */
import { sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { jsonParam, mapRow } from "./_rows.ts";
import { type EventRow, jobEvents } from "./schema.ts";

/** Where one job's stream stands: events with seq greater than `after` are new. */
export interface JobCursor {
  jobId: string;
  after: number;
}

/**
 * Up to `perJob` events of each job in `cursors` past its `after` whose type
 * is in `types`, each job's in seq order (job by job; the caller interleaves
 * them). Capping per job, not overall, keeps every job's rows a gap-free
 * prefix of its backlog, so a cursor can advance past whatever was read.
 */
export async function listComparisonEvents(
  db: Queryable,
  cursors: JobCursor[],
  types: readonly string[],
  perJob: number,
): Promise<EventRow[]> {
  if (cursors.length === 0 || types.length === 0) return [];
  const wanted = jsonParam(
    cursors.map((c) => ({ job_id: c.jobId, after: c.after })),
  );
  const rows = await db.execute<Record<string, unknown>>(sql`
    select job_id, seq, type, data, created_at from (
      select e.*,
        row_number() over (partition by e.job_id order by e.seq) as n
      from jsonb_to_recordset(${wanted}::jsonb) as c(job_id uuid, after int)
      join job_events e on e.job_id = c.job_id and e.seq > c.after
      where e.type in
        (select jsonb_array_elements_text(${jsonParam(types)}::jsonb))
    ) e
    where n <= ${perJob}::int
    order by job_id, seq`);
  return rows.map((r) => mapRow(jobEvents, r));
}
