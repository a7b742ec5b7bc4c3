/**
 * Tells "the server went away" from "the statement is wrong". postgres.js
 * reports lost connections with its own codes, the server's shutdown and
 * start-up with SQLSTATE class 08 and 57P0x; drizzle wraps both in `cause`.
 */

const DRIVER_CODES = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
]);

// 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now.
const SERVER_CODES = new Set(["57P01", "57P02", "57P03"]);

/** True when `err` (or any error in its `cause` chain) means the connection was lost or refused. */
export function isConnectionError(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") {
      if (
        DRIVER_CODES.has(code) || SERVER_CODES.has(code) ||
        code.startsWith("08")
      ) return true;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
