/**
 * Live LISTEN registrations per client, so closeDb can end them before the
 * pool: an UNLISTEN still in flight when `end()` starts is never answered,
 * and postgres.js then rejects it after the timeout as an unhandled error.
 */
type Stop = () => Promise<void>;

const live = new WeakMap<object, Set<Stop>>();

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

/** Ends every live registration of `client` and waits for them. */
export async function stopListeners(client: object): Promise<void> {
  await Promise.all([...(live.get(client) ?? [])].map((stop) => stop()));
}
