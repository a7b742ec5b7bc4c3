/**
 * A leased job's event log as its worker writes it: the worker numbers the
 * events itself, continuing from the seq its claim returned, and appends
 * them one at a time, in order. A retried append re-sends the same seq, so an
 * ambiguous COMMIT cannot duplicate an event (db/appendLeasedEvent).
 */
import { appendLeasedEvent, type JobLease, type Queryable } from "../db/mod.ts";
import { assertHeld } from "./lease_lost.ts";

/** Runs a write, retrying while the database is unreachable. */
export type Durable = <T>(write: () => Promise<T>) => Promise<T>;

/** The ordered, idempotent appender of one leased job's events. */
export class JobEventLog {
  #seq: number;
  #chain: Promise<void> = Promise.resolve();
  #broken: unknown;

  constructor(
    private readonly db: Queryable,
    private readonly lease: JobLease,
    lastSeq: number,
    private readonly durable: Durable,
  ) {
    this.#seq = lastSeq;
  }

  /**
   * Appends after every earlier append has landed. Once one append failed,
   * every later one fails with the same error: its seq may or may not have
   * committed, and a later seq must never leave a gap.
   * @throws {LeaseLostError} when the lease is gone.
   */
  append(type: string, data: Record<string, unknown>): Promise<void> {
    const run = async () => {
      if (this.#broken !== undefined) throw this.#broken;
      const event = { seq: this.#seq + 1, type, data };
      try {
        const held = await this.durable(() =>
          appendLeasedEvent(this.db, this.lease, event)
        );
        assertHeld(held, this.lease);
        this.#seq = event.seq;
      } catch (err) {
        this.#broken = err;
        throw err;
      }
    };
    const done = this.#chain.then(run);
    this.#chain = done.catch(() => {});
    return done;
  }

  /** Resolves once every append so far has settled (never rejects). */
  idle(): Promise<void> {
    return this.#chain;
  }
}
