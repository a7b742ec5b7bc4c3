/**
 * The FNGD coefficient cache: float32 vectors per (job, batch, layer), one
 * per epoch that solved them (epoch one's inversion, then refreshes), so the
 * history of each (batch, layer) is kept.
 */
import { and, asc, count, desc, eq, sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { type JobLease, leaseCte } from "./_lease.ts";
import { bytesToFloat32, float32ToBytes } from "./_bytes.ts";
import { fngdCoefficients } from "./schema.ts";

/** One vector to store. */
export interface CoefficientInput {
  batch: number;
  layer: number;
  /** The epoch whose step solved it. */
  epoch: number;
  coefficients: Float32Array;
  /** The staleness reference recorded with it. */
  diagonal: Float32Array;
  /** The lambda the solve used (alpha scaled by the Gram matrix's norm). */
  lambda: number;
}

/** One stored vector of a (batch, layer), as read back. */
export interface CoefficientEntry {
  coefficients: Float32Array;
  /** The epoch whose step solved it. */
  epoch: number;
  /** The staleness reference; empty on rows written before it was kept. */
  diagonal: Float32Array;
}

/** The latest vector of one (batch, layer). */
export interface LatestCoefficients {
  layer: number;
  batch: number;
  coefficients: Float32Array;
}

/** How many (batch, layer) entries one epoch solved, in all and per layer. */
export interface CoefficientEpochHistory {
  epoch: number;
  solved: number;
  layers: { layer: number; solved: number }[];
}

/** Rows per INSERT: 6 parameters each stays far below Postgres' 65535 limit. */
const CHUNK = 500;

/**
 * Stores vectors of a held job in multi-row INSERTs, each fenced by `lease`.
 * A re-put of the same (batch, layer, epoch) (an epoch re-run after a crash,
 * or a retry) replaces that row; other epochs' rows stay. False when the
 * lease is gone.
 */
export async function putCoefficients(
  db: Queryable,
  lease: JobLease,
  rows: CoefficientInput[],
): Promise<boolean> {
  for (let i = 0; i < rows.length; i += CHUNK) {
    const values = sql.join(
      rows.slice(i, i + CHUNK).map((r) =>
        sql`(${r.batch}::int, ${r.layer}::int, ${r.epoch}::int, ${
          float32ToBytes(r.coefficients)
        }::bytea, ${float32ToBytes(r.diagonal)}::bytea, ${r.lambda}::float8)`
      ),
      sql`, `,
    );
    const written = await db.execute<{ n: number }>(sql`
      with ${leaseCte(lease)}, put as (
        insert into fngd_coefficients
          (job_id, batch_index, layer_index, epoch, coefficients, diagonal,
            lambda)
        select lease.id, v.batch, v.layer, v.epoch, v.coefficients,
          v.diagonal, v.lambda
        from lease cross join (values ${values})
          as v(batch, layer, epoch, coefficients, diagonal, lambda)
        on conflict (job_id, batch_index, layer_index, epoch) do update
          set coefficients = excluded.coefficients,
            diagonal = excluded.diagonal,
            lambda = excluded.lambda, created_at = now()
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

/** A row's entry; an old row's missing diagonal reads as empty. */
function entryOf(
  r: { epoch: number; coefficients: Uint8Array; diagonal: Uint8Array | null },
): CoefficientEntry {
  return {
    coefficients: bytesToFloat32(r.coefficients),
    epoch: r.epoch,
    diagonal: r.diagonal ? bytesToFloat32(r.diagonal) : new Float32Array(0),
  };
}

/** Every entry of `jobId`, keyed `"batch:layer"`, each history in epoch order. */
export async function loadCoefficients(
  db: Queryable,
  jobId: string,
): Promise<Map<string, CoefficientEntry[]>> {
  const rows = await db.select({
    batch: fngdCoefficients.batchIndex,
    layer: fngdCoefficients.layerIndex,
    epoch: fngdCoefficients.epoch,
    coefficients: fngdCoefficients.coefficients,
    diagonal: fngdCoefficients.diagonal,
  }).from(fngdCoefficients).where(eq(fngdCoefficients.jobId, jobId))
    .orderBy(
      asc(fngdCoefficients.batchIndex),
      asc(fngdCoefficients.layerIndex),
      asc(fngdCoefficients.epoch),
    );
  const out = new Map<string, CoefficientEntry[]>();
  for (const r of rows) {
    const key = coefficientKey(r.batch, r.layer);
    const history = out.get(key);
    if (history) history.push(entryOf(r));
    else out.set(key, [entryOf(r)]);
  }
  return out;
}

/** The latest entry of (batch, layer), or that of `epoch`; undefined when none. */
export async function getCoefficientVector(
  db: Queryable,
  jobId: string,
  batch: number,
  layer: number,
  epoch?: number,
): Promise<CoefficientEntry | undefined> {
  const [row] = await db.select({
    epoch: fngdCoefficients.epoch,
    coefficients: fngdCoefficients.coefficients,
    diagonal: fngdCoefficients.diagonal,
  }).from(fngdCoefficients).where(and(
    eq(fngdCoefficients.jobId, jobId),
    eq(fngdCoefficients.batchIndex, batch),
    eq(fngdCoefficients.layerIndex, layer),
    epoch === undefined ? undefined : eq(fngdCoefficients.epoch, epoch),
  )).orderBy(desc(fngdCoefficients.epoch)).limit(1);
  return row ? entryOf(row) : undefined;
}

/**
 * The latest vector of each (batch, layer) of `jobId`, in layer then batch
 * order. SQL cannot read float32 bytea, so summarising them is the caller's.
 */
export async function listLatestCoefficients(
  db: Queryable,
  jobId: string,
): Promise<LatestCoefficients[]> {
  const rows = await db.selectDistinctOn([
    fngdCoefficients.layerIndex,
    fngdCoefficients.batchIndex,
  ], {
    layer: fngdCoefficients.layerIndex,
    batch: fngdCoefficients.batchIndex,
    coefficients: fngdCoefficients.coefficients,
  }).from(fngdCoefficients).where(eq(fngdCoefficients.jobId, jobId))
    .orderBy(
      asc(fngdCoefficients.layerIndex),
      asc(fngdCoefficients.batchIndex),
      desc(fngdCoefficients.epoch),
    );
  return rows.map((r) => ({
    layer: r.layer,
    batch: r.batch,
    coefficients: bytesToFloat32(r.coefficients),
  }));
}

/** Per epoch, how many (batch, layer) entries of `jobId` it solved, in epoch order. */
export async function listCoefficientHistory(
  db: Queryable,
  jobId: string,
): Promise<CoefficientEpochHistory[]> {
  const counts = await db.select({
    epoch: fngdCoefficients.epoch,
    layer: fngdCoefficients.layerIndex,
    solved: count(),
  }).from(fngdCoefficients).where(eq(fngdCoefficients.jobId, jobId))
    .groupBy(fngdCoefficients.epoch, fngdCoefficients.layerIndex)
    .orderBy(asc(fngdCoefficients.epoch), asc(fngdCoefficients.layerIndex));
  const history: CoefficientEpochHistory[] = [];
  for (const c of counts) {
    let last = history.at(-1);
    if (last?.epoch !== c.epoch) {
      last = { epoch: c.epoch, solved: 0, layers: [] };
      history.push(last);
    }
    last.solved += c.solved;
    last.layers.push({ layer: c.layer, solved: c.solved });
  }
  return history;
}
