/**
 * NOTIFY channels. A notification is only a latency hint: every waiter also
 * polls, because embedded PGlite does not deliver NOTIFY across connections.
 */
import { sql } from "drizzle-orm";
import type { Db, Queryable } from "./client.ts";
import { isClosing, trackListener } from "./_listeners.ts";

/** Payload: a job id; sent when a job becomes claimable (created). */
export const JOBS_CHANNEL = "jobs";
/** Payload: a job id; sent after an event of that job is appended. */
export const JOB_EVENTS_CHANNEL = "job_events";

/** Sends `payload` on `channel` (delivered when the surrounding transaction commits). */
export async function notify(
  db: Queryable,
  channel: string,
  payload: string,
): Promise<void> {
  await db.execute(sql`select pg_notify(${channel}, ${payload})`);
}

/**
 * Calls `onPayload` for each notification on `channel` until the returned
 * function is called (it never rejects, and closeDb calls it if nobody did).
 * Uses one dedicated connection of the pool.
 * @throws {Error} when LISTEN fails, or closeDb has begun on `db`.
 */
export async function listen(
  db: Db,
  channel: string,
  onPayload: (payload: string) => void,
): Promise<() => Promise<void>> {
  if (isClosing(db.sql)) {
    // postgres.js would open a LISTEN connection that end() never closes.
    throw new Error(
      `LISTEN ${channel}: expected an open pool, found it closing`,
    );
  }
  const registration = db.sql.listen(channel, onPayload);
  const stop = trackListener(
    db.sql,
    async () => await (await registration).unlisten(),
  );
  try {
    await registration;
  } catch (err) {
    await stop();
    throw err;
  }
  return stop;
}
