/**
 * Server-sent events over fetch, as EventSource reads them but with headers
 * (an API key) and as an async iterator: the stream is reopened with
 * `Last-Event-ID` after a dropped connection, and ends on a 204 (the server's
 * "nothing will follow") or when the caller says the last event has come.
 */

/** One dispatched SSE event. */
export interface SseMessage {
  /** The `id:` of the event (or the last one before it), if any. */
  id?: string;
  /** The `event:` name; `message` when the server gave none. */
  event: string;
  /** The `data:` lines, joined by newlines. */
  data: string;
}

/** What a reconnection reports to {@link FollowOptions.onReconnect}. */
export interface ReconnectInfo {
  /** Consecutive failed tries so far (1 for the first retry after a drop). */
  attempt: number;
  /** The resume point sent as Last-Event-ID, if any. */
  lastEventId?: string;
  /** Why the previous connection ended: an error, or undefined for a clean close. */
  error?: unknown;
  /** Milliseconds waited before this try. */
  delayMs: number;
}

/** How {@link followSse} follows a stream. */
export interface FollowOptions {
  /** The fetch to use (default `globalThis.fetch`). */
  fetch?: typeof fetch;
  /** Sent with every request (e.g. authorization). */
  headers?: Record<string, string>;
  /** Resume after this event id (sent as Last-Event-ID on the first request too). */
  lastEventId?: string;
  /** Stops following; the iterator then throws the signal's reason. */
  signal?: AbortSignal;
  /** First reconnection delay unless the server sends `retry:` (default 1000 ms). */
  retryMs?: number;
  /** Consecutive failed connections before giving up (default 8). */
  maxRetries?: number;
  /** Called before each reconnection. */
  onReconnect?: (info: ReconnectInfo) => void;
  /** True for the event after which nothing can follow: stop without reconnecting. */
  isLast?: (message: SseMessage) => boolean;
  /** Turns a refused request (4xx, or 5xx other than 502-504) into the error to throw. */
  onHttpError?: (response: Response) => Promise<Error>;
}

/** Longest wait between two tries. */
const MAX_DELAY_MS = 30_000;

/** Statuses worth retrying: a gateway or a service that may come back. */
const TRANSIENT = new Set([502, 503, 504]);

/**
 * Follows the SSE stream at `url`, yielding every event once, in order,
 * across reconnections.
 * @throws the error of {@link FollowOptions.onHttpError} for a refused request,
 * the last connection error after `maxRetries` failures in a row, or the
 * signal's reason once aborted.
 */
export async function* followSse(
  url: string,
  options: FollowOptions = {},
): AsyncGenerator<SseMessage, void, undefined> {
  const doFetch = options.fetch ?? globalThis.fetch;
  const maxRetries = options.maxRetries ?? 8;
  let retryMs = options.retryMs ?? 1000;
  let lastEventId = options.lastEventId;
  // Connections in a row that ended before delivering anything.
  let failures = 0;
  let lastError: unknown;
  let reconnect = false;
  for (;;) {
    options.signal?.throwIfAborted();
    if (reconnect) {
      if (failures > maxRetries) {
        throw lastError ?? new Error(`${url} keeps closing without events`);
      }
      // After a delivering connection, the server's delay; after failures,
      // doubling it each time.
      const delayMs = Math.min(
        retryMs * 2 ** Math.max(0, failures - 1),
        MAX_DELAY_MS,
      );
      options.onReconnect?.({
        attempt: Math.max(failures, 1),
        lastEventId,
        error: lastError,
        delayMs,
      });
      await sleep(delayMs, options.signal);
    }
    reconnect = true;
    const headers: Record<string, string> = {
      ...options.headers,
      accept: "text/event-stream",
    };
    if (lastEventId !== undefined) headers["last-event-id"] = lastEventId;
    let response: Response;
    try {
      response = await doFetch(url, { headers, signal: options.signal });
    } catch (err) {
      options.signal?.throwIfAborted();
      failures++;
      lastError = err;
      continue;
    }
    if (response.status === 204) {
      await response.body?.cancel();
      return;
    }
    if (!response.ok) {
      if (TRANSIENT.has(response.status)) {
        await response.body?.cancel();
        failures++;
        lastError = new Error(`HTTP ${response.status} from ${url}`);
        continue;
      }
      throw options.onHttpError
        ? await options.onHttpError(response)
        : new Error(`HTTP ${response.status} from ${url}`);
    }
    let delivered = false;
    lastError = undefined;
    try {
      for await (const field of readFields(response.body!)) {
        if (field.retry !== undefined) retryMs = field.retry;
        if (field.message) {
          delivered = true;
          failures = 0;
          if (field.message.id !== undefined) lastEventId = field.message.id;
          yield field.message;
          if (options.isLast?.(field.message)) return;
        }
      }
      // A clean close: reconnect, as EventSource does, to what came since
      // or to the 204 that says nothing will.
    } catch (err) {
      options.signal?.throwIfAborted();
      lastError = err;
    }
    if (!delivered) failures++;
  }
}

/** What one SSE block carried: an event to dispatch and/or a retry delay. */
interface Field {
  message?: SseMessage;
  retry?: number;
}

/**
 * Parses a text/event-stream body per the HTML standard: lines end in CRLF,
 * LF or CR; `:` starts a comment; a blank line dispatches; an event with no
 * data is not dispatched; `id` persists across events.
 */
async function* readFields(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<Field, void, undefined> {
  let buffer = "";
  let data: string[] = [];
  let event = "";
  let id: string | undefined;
  let retry: number | undefined;
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      for (;;) {
        const end = buffer.search(/\r\n|\r|\n/);
        // A lone CR at the end may be the first half of a CRLF.
        if (end < 0 || (end === buffer.length - 1 && buffer[end] === "\r")) {
          break;
        }
        const line = buffer.slice(0, end);
        buffer = buffer.slice(
          buffer.startsWith("\r\n", end) ? end + 2 : end + 1,
        );
        if (line === "") {
          const out: Field = {};
          if (data.length > 0) {
            out.message = { event: event || "message", data: data.join("\n") };
            if (id !== undefined) out.message.id = id;
          }
          if (retry !== undefined) out.retry = retry;
          data = [];
          event = "";
          retry = undefined;
          if (out.message || out.retry !== undefined) yield out;
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? "" : line.slice(colon + 1);
        if (text.startsWith(" ")) text = text.slice(1);
        if (name === "data") data.push(text);
        else if (name === "event") event = text;
        else if (name === "id" && !text.includes("\0")) id = text;
        else if (name === "retry" && /^\d+$/.test(text)) retry = Number(text);
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** Waits `ms`, or rejects with the signal's reason once it aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
