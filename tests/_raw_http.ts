/**
 * HTTP/1.1 over a raw TCP socket, for what fetch cannot send: a Host of our
 * choosing, a body shorter than its Content-Length, a body trickled slowly.
 */

/** What came back on one connection. */
export interface RawExchange {
  /** The status line's code; undefined when the connection closed without a response. */
  status?: number;
  headers: Headers;
  /** The body, de-chunked. */
  body: string;
  /** Milliseconds from the first byte sent to the connection's end. */
  elapsedMs: number;
  /** True when the server closed (or reset) the connection within the time allowed. */
  closed: boolean;
}

/** Whether `text` holds a whole response: headers and all of its body. */
function complete(text: string): boolean {
  const split = text.indexOf("\r\n\r\n");
  if (split < 0) return false;
  const head = text.slice(0, split).toLowerCase();
  // An event stream does not end by itself: its headers are the answer.
  if (/\r\ncontent-type:\s*text\/event-stream/.test(head)) return true;
  const body = text.slice(split + 4);
  const length = /\r\ncontent-length:\s*(\d+)/.exec(head);
  if (length) return new TextEncoder().encode(body).length >= Number(length[1]);
  if (/\r\ntransfer-encoding:\s*chunked/.test(head)) {
    return /(^|\r\n)0\r\n\r\n$/.test(body);
  }
  return false;
}

/** The bytes read so far, as text. */
function decode(chunks: Uint8Array[]): string {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return new TextDecoder().decode(all);
}

/** One piece of a request, written after `delayMs`. */
export interface RawPart {
  bytes: string | Uint8Array;
  delayMs?: number;
}

/**
 * Writes `head` (request line and headers, without the blank line) and then
 * `parts`, while reading what comes back until a whole response has arrived,
 * the server closes the connection, or `maxMs` pass. Writes that fail because
 * the server hung up end the writing, not the exchange.
 */
export async function rawExchange(
  base: string,
  head: string[],
  parts: RawPart[],
  maxMs: number,
): Promise<RawExchange> {
  const url = new URL(base);
  const conn = await Deno.connect({
    hostname: url.hostname,
    port: Number(url.port),
  });
  const enc = new TextEncoder();
  const start = performance.now();
  let stop = false;
  const writing = (async () => {
    try {
      await conn.write(enc.encode(head.join("\r\n") + "\r\n\r\n"));
      for (const part of parts) {
        if (part.delayMs) await new Promise((r) => setTimeout(r, part.delayMs));
        if (stop) return;
        await conn.write(
          typeof part.bytes === "string" ? enc.encode(part.bytes) : part.bytes,
        );
      }
    } catch {
      // The server hung up on a slow writer: expected.
    }
  })();
  const chunks: Uint8Array[] = [];
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), maxMs);
  });
  try {
    for (;;) {
      const buf = new Uint8Array(64 * 1024);
      const n = await Promise.race([
        conn.read(buf).catch(() => null),
        timeout,
      ]);
      if (n === "timeout") break;
      if (n === null) {
        closed = true;
        break;
      }
      chunks.push(buf.slice(0, n));
      if (complete(decode(chunks))) break;
    }
  } finally {
    clearTimeout(timer);
    stop = true;
    try {
      conn.close();
    } catch {
      // Already closed.
    }
    await writing;
  }
  const elapsedMs = performance.now() - start;
  return { ...parseResponse(decode(chunks)), elapsedMs, closed };
}

/**
 * A raw HTTP/1.1 response's status, headers and de-chunked body; no status
 * when the text holds no complete header block.
 */
export function parseResponse(
  text: string,
): { status?: number; headers: Headers; body: string } {
  const split = text.indexOf("\r\n\r\n");
  const headers = new Headers();
  if (split < 0) return { headers, body: "" };
  const [statusLine, ...headerLines] = text.slice(0, split).split("\r\n");
  for (const line of headerLines) {
    const at = line.indexOf(":");
    headers.append(line.slice(0, at).trim(), line.slice(at + 1).trim());
  }
  let body = text.slice(split + 4);
  if (headers.get("transfer-encoding") === "chunked") {
    let out = "";
    for (;;) {
      const eol = body.indexOf("\r\n");
      const size = parseInt(body.slice(0, eol), 16);
      if (!size) break;
      out += body.slice(eol + 2, eol + 2 + size);
      body = body.slice(eol + 2 + size + 2);
    }
    body = out;
  }
  return { status: Number(statusLine.split(" ")[1]), headers, body };
}
