/**
 * Retries a database write while the server is unreachable (a restart, a
 * failover), so a short outage delays a job instead of failing it. Only
 * connection errors are retried; a wrong statement fails at once.
 */
import { isConnectionError, sleep } from "../db/mod.ts";

/** How long and how often to retry. */
export interface RetryOptions {
  /** Give up after this long (default 60 s); the lease decides ownership meanwhile. */
  maxMs?: number;
  /** Stops retrying at once (cancel, shutdown, lost lease). */
  signal?: AbortSignal;
  log?: (message: string) => void;
}

/**
 * Runs `write`, retrying with backoff (250 ms doubling to 4 s) while it fails
 * with a connection error. Writes passed here must be safe to repeat.
 * @throws the last error when it is not a connection error, the signal aborts, or time runs out.
 */
export async function retryWhileDbDown<T>(
  write: () => Promise<T>,
  opts: RetryOptions = {},
): Promise<T> {
  const deadline = Date.now() + (opts.maxMs ?? 60_000);
  let delay = 250;
  for (;;) {
    try {
      return await write();
    } catch (err) {
      if (
        !isConnectionError(err) || opts.signal?.aborted ||
        Date.now() + delay > deadline
      ) {
        throw err;
      }
      opts.log?.(
        `database unreachable (${
          (err as Error).message
        }); retrying in ${delay} ms`,
      );
      await sleep(delay, opts.signal);
      if (opts.signal?.aborted) throw err;
      delay = Math.min(delay * 2, 4000);
    }
  }
}
