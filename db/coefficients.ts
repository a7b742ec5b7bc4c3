/** The FNGD coefficient cache: one float32 vector per (job, batch, layer). */
import { and, asc, eq, sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { type JobLease, leaseCte } from "./_lease.ts";
import { bytesToFloat32, float32ToBytes } from "./_bytes.ts";
import { fngdCoefficients, jobs } from "./schema.ts";
import type { CoefficientLayerSummary } from "../src/engine/types.ts";

/** One vector to store. */
export interface CoefficientInput {
  batch: number;
  layer: number;
  coefficients: Float32Array;
  /** The damping lambda actually used. */
  damping: number;
}

/** Per-layer summary, the very type of the engine's `coefficients` event data. */
export type { CoefficientLayerSummary };

/** Rows per INSERT: 5 parameters each stays far below Postgres' 65535 limit. */
const CHUNK = 500;

/**
 * Stores vectors of a held job in multi-row INSERTs, each fenced by `lease`.
 * A re-put (FNGD `refresh_every`, an epoch 1 re-run after a crash, or a
 * retry) overwrites the earlier vector. False when the lease is gone.
 */
export async function putCoefficients(
  db: Queryable,
  lease: JobLease,
  rows: CoefficientInput[],
): Promise<boolean> {
  for (let i = 0; i < rows.length; i += CHUNK) {
    const values = sql.join(
      rows.slice(i, i + CHUNK).map((r) =>
        sql`(${r.batch}::int, ${r.layer}::int, ${
          float32ToBytes(r.coefficients)
        }::bytea, ${r.damping}::float8)`
      ),
      sql`, `,
    );
    const written = await db.execute<{ n: number }>(sql`
      with ${leaseCte(lease)}, put as (
        insert into fngd_coefficients
          (job_id, batch_index, layer_index, coefficients, damping)
        select lease.id, v.batch, v.layer, v.coefficients, v.damping
        from lease cross join (values ${values})
          as v(batch, layer, coefficients, damping)
        on conflict (job_id, batch_index, layer_index) do update
          set coefficients = excluded.coefficients,
            damping = excluded.damping, created_at = now()
        returning 1
      )
      select (select count(*) from lease)::int as n`);
    if (!written[0]?.n) return false;
  }
  return true;
}

/** Key of {@link loadCoefficients}' map. */
export function coefficientKey(batch: number, layer: number): string {
  return `${batch}:${layer}`;
}

/** Every vector of `jobId`, keyed `"batch:layer"`. */
export async function loadCoefficients(
  db: Queryable,
  jobId: string,
): Promise<Map<string, Float32Array>> {
  const rows = await db.select({
    batch: fngdCoefficients.batchIndex,
    layer: fngdCoefficients.layerIndex,
    coefficients: fngdCoefficients.coefficients,
  }).from(fngdCoefficients).where(eq(fngdCoefficients.jobId, jobId));
  return new Map(
    rows.map((r) => [
      coefficientKey(r.batch, r.layer),
      bytesToFloat32(r.coefficients),
    ]),
  );
}

/** One raw vector, or undefined. */
export async function getCoefficientVector(
  db: Queryable,
  jobId: string,
  batch: number,
  layer: number,
): Promise<Float32Array | undefined> {
  const [row] = await db.select({ c: fngdCoefficients.coefficients })
    .from(fngdCoefficients).where(and(
      eq(fngdCoefficients.jobId, jobId),
      eq(fngdCoefficients.batchIndex, batch),
      eq(fngdCoefficients.layerIndex, layer),
    ));
  return row ? bytesToFloat32(row.c) : undefined;
}

/**
 * Mean, min and max over every value of each layer's vectors, with the
 * damping the `coefficients` event reports. SQL cannot
 * read float32 bytea, so the values are decoded here, one layer's rows at a
 * time in batch order.
 */
export async function summarizeCoefficients(
  db: Queryable,
  jobId: string,
): Promise<{ layers: CoefficientLayerSummary[] }> {
  const rows = await db.select({
    layer: fngdCoefficients.layerIndex,
    coefficients: fngdCoefficients.coefficients,
    damping: fngdCoefficients.damping,
  }).from(fngdCoefficients).where(eq(fngdCoefficients.jobId, jobId))
    .orderBy(
      asc(fngdCoefficients.layerIndex),
      asc(fngdCoefficients.batchIndex),
    );
  const byLayer = new Map<
    number,
    {
      batches: number;
      n: number;
      sum: number;
      min: number;
      max: number;
      damping: number;
    }
  >();
  for (const r of rows) {
    const acc = byLayer.get(r.layer) ??
      { batches: 0, n: 0, sum: 0, min: Infinity, max: -Infinity, damping: 0 };
    for (const v of bytesToFloat32(r.coefficients)) {
      acc.sum += v;
      if (v < acc.min) acc.min = v;
      if (v > acc.max) acc.max = v;
    }
    acc.n += r.coefficients.byteLength / 4;
    acc.batches += 1;
    acc.damping += r.damping;
    byLayer.set(r.layer, acc);
  }
  const [job] = await db.select({
    alpha: sql<
      number | null
    >`(${jobs.spec} -> 'optimizer' ->> 'damping')::float8`,
  }).from(jobs).where(eq(jobs.id, jobId));
  const alpha = job?.alpha ?? undefined;
  return {
    layers: [...byLayer].map(([layer, a]) => ({
      layer,
      batches: a.batches,
      mean: a.n > 0 ? a.sum / a.n : 0,
      min: a.n > 0 ? a.min : 0,
      max: a.n > 0 ? a.max : 0,
      damping: alpha ?? a.damping / a.batches,
    })),
  };
}
