/**
 * The engine's CoefficientStore backed by Postgres. Epoch one puts every
 * (batch, layer) entry, and refreshes in later epochs put new entries beside
 * the old ones; they are buffered and written in multi-row INSERTs on flush
 * (the engine flushes before each checkpoint). Reads come from memory: the
 * first get loads the job's whole history, so no step ever waits on a query.
 */
import {
  type CoefficientEntry,
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

function pendingKey(batch: number, layer: number, epoch: number): string {
  return `${batch}:${layer}:${epoch}`;
}

/** Puts `r` into its epoch-ordered history in `cache`, replacing one of the same epoch. */
function remember(
  cache: Map<string, CoefficientEntry[]>,
  r: CoefficientInput,
): void {
  const entry = {
    coefficients: r.coefficients,
    epoch: r.epoch,
    diagonal: r.diagonal,
  };
  const key = coefficientKey(r.batch, r.layer);
  const history = cache.get(key) ?? [];
  cache.set(key, history);
  const at = history.findIndex((e) => e.epoch >= entry.epoch);
  if (at === -1) history.push(entry);
  else if (history[at].epoch === entry.epoch) history[at] = entry;
  else history.splice(at, 0, entry);
}

/** A write-behind, read-through cache of one job's coefficient history. */
export class PgCoefficientStore implements CoefficientStore {
  /** Keyed by (batch, layer, epoch), so a repeated put (a retry) never writes a row twice. */
  #pending = new Map<string, CoefficientInput>();
  /** Per "batch:layer", every entry in epoch order; loaded on the first get. */
  #cache: Map<string, CoefficientEntry[]> | undefined;
  #loading: Promise<Map<string, CoefficientEntry[]>> | undefined;
  /** Puts made before the cache was loaded, merged into it on load. */
  #early = new Map<string, CoefficientInput>();
  /** Rows written to Postgres so far (for tests and logs). */
  written = 0;
  /** Milliseconds spent in those writes (for logs and the service bench). */
  writeMs = 0;
  /** Queries that loaded the table (at most one per store). */
  loads = 0;

  constructor(
    private readonly db: Queryable,
    private readonly lease: JobLease,
  ) {}

  /**
   * The latest entry of (batch, layer) solved in an epoch before `epoch`,
   * loading the job's history on first use.
   */
  async get(
    batch: number,
    layer: number,
    epoch: number,
  ): Promise<CoefficientEntry | undefined> {
    const cache = this.#cache ?? await this.#load();
    return cache.get(coefficientKey(batch, layer))?.findLast((e) =>
      e.epoch < epoch
    );
  }

  /** Buffers an entry; visible to get() at once, durable after flush(). */
  async put(
    batch: number,
    layer: number,
    entry: CoefficientEntry,
    lambda: number,
  ): Promise<void> {
    // Copy: the caller may reuse its buffers for the next batch.
    const coefficients = entry.coefficients.slice();
    const diagonal = entry.diagonal.slice();
    const { epoch } = entry;
    const row = { batch, layer, epoch, coefficients, diagonal, lambda };
    const key = pendingKey(batch, layer, epoch);
    this.#pending.set(key, row);
    if (this.#cache) remember(this.#cache, row);
    else this.#early.set(key, row);
    if (this.#pending.size >= AUTO_FLUSH_ROWS) await this.flush();
  }

  /**
   * Writes every buffered entry, fenced by the lease.
   * @throws {LeaseLostError} when the lease is gone.
   */
  async flush(): Promise<void> {
    if (this.#pending.size === 0) return;
    const rows = [...this.#pending.values()];
    const started = performance.now();
    const held = await putCoefficients(this.db, this.lease, rows);
    this.writeMs += performance.now() - started;
    assertHeld(held, this.lease);
    // Only what was written leaves the buffer; a failed write keeps it for the retry.
    for (const r of rows) {
      const key = pendingKey(r.batch, r.layer, r.epoch);
      if (this.#pending.get(key) === r) this.#pending.delete(key);
    }
    this.written += rows.length;
  }

  /** Loads the history once (concurrent gets share the query). */
  async #load(): Promise<Map<string, CoefficientEntry[]>> {
    this.#loading ??= loadCoefficients(this.db, this.lease.jobId);
    let cache: Map<string, CoefficientEntry[]>;
    try {
      cache = await this.#loading;
    } catch (err) {
      this.#loading = undefined; // let a retry query again
      throw err;
    }
    if (!this.#cache) {
      this.loads++;
      // Earlier puts win over what the query saw, whether or not a flush
      // wrote them before it ran.
      for (const r of this.#early.values()) remember(cache, r);
      this.#early.clear();
      this.#cache = cache;
    }
    return this.#cache;
  }
}
