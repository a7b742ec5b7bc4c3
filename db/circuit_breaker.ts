/**
 * Fails fast while the database is known to be unreachable, instead of
 * letting every request queue behind a pool whose connections are all
 * waiting out their connect timeout.
 *
 * Why a breaker rather than a per-request deadline: a deadline cannot tell a
 * dead server from a slow query (a model download, an upload), so it would
 * have to be long, or cut healthy work. The connect timeout bounds the first
 * request of an outage; after it, the breaker answers at once, and lets one
 * cheap probe (`select 1`, not a user's query) through per retry interval.
 * It keeps no timer: a probe runs only when a caller asks, so an idle
 * process holds nothing open and a test can close its pool at any time.
 */
import type { Db } from "./client.ts";
import { isConnectionError } from "./connection_errors.ts";

/** The database is known to be unreachable; `cause` is the connection error. */
export class DatabaseUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DatabaseUnavailableError";
  }
}

/** Options of {@link DbCircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** How long to fail fast after a connection error before probing again (default 1000). */
  retryMs?: number;
  /** The clock, for tests. */
  now?: () => number;
  /** Told when the breaker opens and when it closes again. */
  log?: (message: string) => void;
}

/** The innermost cause's message: drizzle's wrapper repeats the query and its parameters. */
function rootMessage(err: unknown): string {
  let e = err;
  while (e instanceof Error && e.cause !== undefined) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}

/** One breaker per pool, shared by every request that uses it. */
export class DbCircuitBreaker {
  readonly #db: Db;
  readonly #retryMs: number;
  readonly #now: () => number;
  readonly #log: (message: string) => void;
  /** The connection error that opened the breaker; undefined while closed. */
  #lastError: unknown = undefined;
  #probeAt = 0;
  #probe: Promise<void> | undefined;

  constructor(db: Db, opts: CircuitBreakerOptions = {}) {
    this.#db = db;
    this.#retryMs = opts.retryMs ?? 1000;
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log ?? (() => {});
  }

  /** What a Retry-After header should say while open: the retry interval, in whole seconds. */
  get retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.#retryMs / 1000));
  }

  /** True while the database is known to be unreachable. */
  get isOpen(): boolean {
    return this.#lastError !== undefined;
  }

  /**
   * Resolves when the caller may use the database: at once while closed;
   * while open, after a probe that finds the database back. The caller that
   * runs the probe waits for it (at most the pool's connect timeout); every
   * other caller fails at once.
   * @throws {DatabaseUnavailableError} while the database is unreachable.
   */
  async admit(): Promise<void> {
    if (!this.isOpen) return;
    if (this.#probe === undefined && this.#now() >= this.#probeAt) {
      this.#probe = this.#ping().finally(() => this.#probe = undefined);
      await this.#probe;
      if (!this.isOpen) return;
    }
    throw this.#unavailable();
  }

  /**
   * Opens the breaker when `err` is a lost or refused connection; any other
   * error (a wrong statement, a constraint) says the server answered.
   */
  record(err: unknown): void {
    // Our own fast failure is no news about the server: counting it would
    // push the next probe back for as long as requests keep coming.
    if (err instanceof DatabaseUnavailableError) return;
    if (!isConnectionError(err)) return;
    if (!this.isOpen) {
      this.#log(
        `database unreachable (${rootMessage(err)}): failing fast, ` +
          `probing every ${this.#retryMs} ms`,
      );
    }
    this.#lastError = err;
    this.#probeAt = this.#now() + this.#retryMs;
  }

  async #ping(): Promise<void> {
    try {
      await this.#db.sql`select 1`;
    } catch (err) {
      // Any other error means the server answered, if only with an error.
      if (isConnectionError(err)) return this.record(err);
    }
    this.#lastError = undefined;
    this.#log("database reachable again");
  }

  #unavailable(): DatabaseUnavailableError {
    // The cause says why; the message may reach clients, so it names no host.
    return new DatabaseUnavailableError(
      `the database is unreachable; retry in ${this.retryAfterSeconds} s`,
      { cause: this.#lastError },
    );
  }
}
