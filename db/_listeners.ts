/**
 * Live LISTEN registrations per client, so closeDb can end them before the
 * pool: an UNLISTEN still in flight when `end()` starts is never answered,
 * and postgres.js then rejects it after the timeout as an unhandled error.
 *
 * It also refuses a LISTEN once the client is closing. postgres.js's
 * `listen()` ignores `end()`: called after `end()` began, it opens a fresh
 * LISTEN connection that `end()` never closes. When the test harness then
 * drops the database WITH (FORCE), that connection is killed and postgres.js
 * re-LISTENs forever (a new connection every ~10 ms, each failing with
 * "database does not exist"), so the process never settles.
 */
import { waitAtMost } from "./wait.ts";

type Stop = () => Promise<void>;

const live = new WeakMap<object, Set<Stop>>();
const closing = new WeakSet<object>();

/** Whether closeDb has begun on `client`; a new LISTEN must not start then. */
export function isClosing(client: object): boolean {
  return closing.has(client);
}

/** Wraps `unlisten` so it runs once, never rejects, and is known to closeDb. */
export function trackListener(client: object, unlisten: Stop): Stop {
  const set = live.get(client) ?? new Set<Stop>();
  live.set(client, set);
  let done: Promise<void> | undefined;
  const stop: Stop = () =>
    done ??= unlisten().catch(() => {}).finally(() => set.delete(stop));
  set.add(stop);
  return stop;
}

/**
 * Marks `client` closing, then ends every live registration, waiting at most
 * `timeoutMs`: a LISTEN whose connection never answers must not hang close,
 * and `end()` destroys that connection anyway.
 */
export async function stopListeners(
  client: object,
  timeoutMs: number,
): Promise<void> {
  closing.add(client);
  const stops = [...(live.get(client) ?? [])].map((stop) => stop());
  await waitAtMost(Promise.all(stops), timeoutMs);
}
