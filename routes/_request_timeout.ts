/**
 * Bounds how long a request body may take to arrive and be read. Deno.serve
 * hands a request over once its headers are in; a client that announces
 * `Content-Length: 100` and sends 10 bytes, or trickles its body a byte at a
 * time, would otherwise hold its handler (and whatever the handler holds)
 * forever. Only the body is bounded: a response, an SSE stream included,
 * runs as long as it needs.
 *
 * Deno.serve gives no way to close a connection, and while a read of a body
 * is pending it keeps the socket until the client sends the rest or hangs
 * up: the 408 goes out at once and the handler ends, but the idle socket is
 * the client's to close. Time limits on connections themselves belong to a
 * proxy in front.
 */
import type { MiddlewareHandler } from "hono";
import { ApiError, renderProblem } from "./problem.ts";

const EXPIRED = Symbol("expired");

/**
 * Wraps the request body so that reading it fails with 408 `request_timeout`
 * once `ms` have passed since the request arrived, and stops reading the
 * connection then. A request whose body is never read (or was read in time)
 * is unaffected, however long its handler takes.
 */
export function requestTimeout(ms: number): MiddlewareHandler {
  return async (c, next) => {
    const raw = c.req.raw;
    if (!raw.body) return await next();
    const source = raw.body.getReader();
    const timeoutError = () =>
      new ApiError(
        "request_timeout",
        `the request body did not arrive within ${ms} ms (REQUEST_TIMEOUT_MS)`,
        // The rest of the body may still come, so the connection cannot
        // carry another request.
        { headers: { connection: "close" } },
      );
    let settled = false;
    /** A read failed because the deadline passed: the answer is 408. */
    let timedOut = false;
    let expire!: () => void;
    const deadline = new Promise<typeof EXPIRED>((resolve) => {
      expire = () => resolve(EXPIRED);
    });
    const timer = setTimeout(() => {
      if (settled) return;
      expire();
      // What is still missing is not coming in time: stop waiting for it.
      source.cancel().catch(() => {});
    }, ms);
    const settle = () => {
      settled = true;
      clearTimeout(timer);
    };
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const chunk = await Promise.race([source.read(), deadline]);
        if (chunk === EXPIRED) {
          timedOut = true;
          controller.error(timeoutError());
        } else if (chunk.done) {
          settle();
          controller.close();
        } else {
          controller.enqueue(chunk.value);
        }
      },
      cancel(reason) {
        settle();
        return source.cancel(reason);
      },
      // Pull only when the handler reads: a body nobody reads never times out.
    }, { highWaterMark: 0 });
    replaceBody(raw, body);
    try {
      await next();
    } finally {
      settle();
    }
    if (timedOut) {
      // hono's validators report a failed body read as malformed JSON or
      // form data (400); the cause was the clock. Assigning merges the
      // headers already set (CORS), so a page can still read it.
      c.res = renderProblem(timeoutError());
    }
  };
}

/**
 * Makes every way of reading `req`'s body read `body` instead: the stream,
 * `json()`, `formData()` and the rest (hono's validators), and `clone()`
 * (which @hono/zod-openapi uses to look for a body that has no
 * Content-Type). Not a new Request for every body: one built from the URL
 * string fails on a Host that does not parse (Deno.serve builds the URL
 * from it), and one built from `req` follows its signal, which makes
 * Deno.serve warn that the signal aborts after every response. `clone()`
 * does the latter, as the native one does.
 */
function replaceBody(req: Request, body: ReadableStream<Uint8Array>): void {
  let current = body;
  const read = () => new Response(current, { headers: req.headers });
  Object.defineProperties(req, {
    body: { get: () => current },
    bodyUsed: { get: () => current.locked },
    arrayBuffer: { value: () => read().arrayBuffer() },
    bytes: { value: () => read().bytes() },
    blob: { value: () => read().blob() },
    formData: { value: () => read().formData() },
    json: { value: () => read().json() },
    text: { value: () => read().text() },
    clone: {
      value: () => {
        const [mine, theirs] = current.tee();
        current = mine;
        return new Request(
          req,
          { body: theirs, duplex: "half" } as RequestInit,
        );
      },
    },
  });
}
