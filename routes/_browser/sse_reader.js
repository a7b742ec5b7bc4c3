// A text/event-stream reader over fetch(). EventSource cannot send an
// Authorization header, and there is no stream token to put in the URL
// instead, so the page reads the stream itself. It dispatches each frame as
// a MessageEvent named by its `event:` field (listen with
// addEventListener(type), as with EventSource), reconnects with
// Last-Event-ID after a drop, and stops on the server's 204.

/** Splits text into lines on CRLF, CR or LF; the last, unfinished one is kept. */
function splitLines(buffer) {
  // A CR at the very end may be half of a CRLF still on its way.
  const cut = buffer.endsWith("\r") ? buffer.length - 1 : buffer.length;
  const lines = buffer.slice(0, cut).split(/\r\n|\r|\n/);
  const rest = lines.pop() + buffer.slice(cut);
  return { lines, rest };
}

export class EventStreamReader extends EventTarget {
  #url;
  #headers;
  #lastEventId = "";
  #retryMs = 1000;
  #abort = new AbortController();
  #closed = false;

  /** `headers()` is called on every (re)connect, so a new key is used. */
  constructor(url, headers = () => ({})) {
    super();
    this.#url = url;
    this.#headers = headers;
  }

  close() {
    this.#closed = true;
    this.#abort.abort();
  }

  /** Reads until closed, a 204, or an answer that retrying cannot change. */
  async run() {
    let failures = 0;
    while (!this.#closed) {
      let res;
      try {
        const headers = { accept: "text/event-stream", ...this.#headers() };
        if (this.#lastEventId) headers["last-event-id"] = this.#lastEventId;
        res = await fetch(this.#url, {
          headers,
          cache: "no-store",
          signal: this.#abort.signal,
        });
      } catch {
        if (this.#closed) return;
        await this.#pause(++failures);
        continue;
      }
      if (res.status === 204) {
        this.#closed = true;
        this.dispatchEvent(new Event("end"));
        return;
      }
      if (!res.ok) {
        await res.body?.cancel();
        this.dispatchEvent(
          new CustomEvent("http_error", { detail: { status: res.status } }),
        );
        const transient = res.status === 408 || res.status === 429 ||
          res.status >= 500;
        if (!transient) {
          this.#closed = true;
          return;
        }
        await this.#pause(++failures);
        continue;
      }
      failures = 0;
      this.dispatchEvent(new Event("open"));
      try {
        await this.#consume(res.body);
      } catch {
        // A dropped connection: reconnect below.
      }
      if (this.#closed) return;
      await this.#pause(0);
    }
  }

  #pause(failures) {
    const ms = Math.min(30_000, this.#retryMs * 2 ** Math.min(failures, 5));
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  async #consume(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let type = "";
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done || this.#closed) {
        if (this.#closed) reader.cancel().catch(() => {});
        return;
      }
      const { lines, rest } = splitLines(buffer + value);
      buffer = rest;
      for (const line of lines) {
        if (line === "") {
          if (data.length > 0) {
            this.dispatchEvent(
              new MessageEvent(type || "message", {
                data: data.join("\n"),
                lastEventId: this.#lastEventId,
              }),
            );
          }
          type = "";
          data = [];
          if (this.#closed) return;
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? "" : line.slice(colon + 1);
        if (text.startsWith(" ")) text = text.slice(1);
        if (field === "event") type = text;
        else if (field === "data") data.push(text);
        else if (field === "id" && !text.includes("\0")) {
          this.#lastEventId = text;
        } else if (field === "retry" && /^\d+$/.test(text)) {
          this.#retryMs = Number(text);
        }
      }
    }
  }
}
