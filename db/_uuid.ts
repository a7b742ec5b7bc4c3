/** Ids arrive from URLs; anything that is not a uuid cannot name a row, so no query is sent. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True when `id` has the uuid text form Postgres accepts for our keys. */
export function isUuid(id: string): boolean {
  return UUID.test(id);
}
