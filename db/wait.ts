/**
 * Timed waits that an abort ends early, so that no caller's shutdown waits
 * out a poll interval, a backoff or a grace period. Here, at the bottom of
 * the import graph, so that routes, workers and entry points share them.
 */

/** Resolves after `ms`, or at once when `signal` aborts; never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Waits for `promise`, but at most `ms`: true when it settled in time, false
 * when the time ran out first. A rejection in time passes through.
 */
export async function waitAtMost(
  promise: Promise<unknown>,
  ms: number,
): Promise<boolean> {
  const settled = new AbortController();
  try {
    return await Promise.race([
      promise.then(() => true),
      sleep(ms, settled.signal).then(() => false),
    ]);
  } finally {
    settled.abort();
  }
}
