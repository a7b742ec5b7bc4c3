/** Per-epoch metrics of a job. */
import { asc, desc, eq, sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { type JobLease, leaseCte } from "./_lease.ts";
import { type EpochMetricRow, epochMetrics } from "./schema.ts";

/** One epoch's numbers, as recorded. */
export type NewEpochMetric = Omit<
  typeof epochMetrics.$inferInsert,
  "jobId" | "createdAt"
>;

/**
 * Records an epoch's metrics for a held job, fenced by `lease`; a resumed job
 * re-running an epoch overwrites its row. False when the lease is gone.
 */
export async function recordEpochMetric(
  db: Queryable,
  lease: JobLease,
  m: NewEpochMetric,
): Promise<boolean> {
  const rows = await db.execute<{ epoch: number }>(sql`
    with ${leaseCte(lease)}
    insert into epoch_metrics
      (job_id, epoch, phase, train_loss, val_loss, val_accuracy,
       val_reconstruction_error, val_exact_match, val_bleu, seconds, steps)
    select id, ${m.epoch}::int, ${m.phase}, ${m.trainLoss}::float8,
      ${m.valLoss ?? null}::float8, ${m.valAccuracy ?? null}::float8,
      ${m.valReconstructionError ?? null}::float8,
      ${m.valExactMatch ?? null}::float8, ${m.valBleu ?? null}::float8,
      ${m.seconds}::float8, ${m.steps}::int
    from lease
    on conflict (job_id, epoch) do update set phase = excluded.phase,
      train_loss = excluded.train_loss, val_loss = excluded.val_loss,
      val_accuracy = excluded.val_accuracy,
      val_reconstruction_error = excluded.val_reconstruction_error,
      val_exact_match = excluded.val_exact_match, val_bleu = excluded.val_bleu,
      seconds = excluded.seconds, steps = excluded.steps, created_at = now()
    returning epoch`);
  return rows.length > 0;
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
