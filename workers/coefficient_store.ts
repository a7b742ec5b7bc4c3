/**
 * The engine's CoefficientStore backed by Postgres. Epoch one puts every
 * (batch, layer) vector; they are buffered and written in multi-row INSERTs
 * on flush (the engine flushes before each checkpoint). Later epochs read
 * them: the first get loads the job's whole table into memory, so no step
 * ever waits on a query.
 */
import {
  type CoefficientInput,
  coefficientKey,
  type JobLease,
  loadCoefficients,
  putCoefficients,
  type Queryable,
} from "../db/mod.ts";
import { assertHeld } from "./lease_lost.ts";
import type { CoefficientStore } from "../src/engine/types.ts";

/** Pending rows that force a write even before flush, to bound memory. */
const AUTO_FLUSH_ROWS = 2000;

/** A write-behind, read-through cache of one job's coefficients. */
export class PgCoefficientStore implements CoefficientStore {
  /** Keyed by (batch, layer), so a repeated put (a retry) never writes a row twice. */
  #pending = new Map<string, CoefficientInput>();
  #cache: Map<string, Float32Array> | undefined;
  /** Rows written to Postgres so far (for tests and logs). */
  written = 0;
  /** Queries that loaded the table (at most one per store). */
  loads = 0;

  constructor(
    private readonly db: Queryable,
    private readonly lease: JobLease,
  ) {}

  /** The vector of (batch, layer), loading the job's table on first use. */
  async get(batch: number, layer: number): Promise<Float32Array | undefined> {
    if (!this.#cache) {
      await this.flush();
      this.#cache = await loadCoefficients(this.db, this.lease.jobId);
      this.loads++;
    }
    return this.#cache.get(coefficientKey(batch, layer));
  }

  /** Buffers a vector; visible to get() at once, durable after flush(). */
  async put(
    batch: number,
    layer: number,
    coefficients: Float32Array,
    damping: number,
  ): Promise<void> {
    // Copy: the caller may reuse its buffer for the next batch.
    const copy = coefficients.slice();
    const key = coefficientKey(batch, layer);
    this.#pending.set(key, { batch, layer, coefficients: copy, damping });
    this.#cache?.set(key, copy);
    if (this.#pending.size >= AUTO_FLUSH_ROWS) await this.flush();
  }

  /**
   * Writes every buffered vector, fenced by the lease.
   * @throws {LeaseLostError} when the lease is gone.
   */
  async flush(): Promise<void> {
    if (this.#pending.size === 0) return;
    const rows = [...this.#pending.values()];
    assertHeld(await putCoefficients(this.db, this.lease, rows), this.lease);
    // Only what was written leaves the buffer; a failed write keeps it for the retry.
    for (const r of rows) {
      const key = coefficientKey(r.batch, r.layer);
      if (this.#pending.get(key) === r) this.#pending.delete(key);
    }
    this.written += rows.length;
  }
}
