/** A small SSE frame reader for tests: parses what a browser's EventSource would. */

/**
 * One parsed frame: an event, a comment line such as a heartbeat, or a block
 * without data (EventSource dispatches nothing for it), such as `retry:`.
 */
export type SseFrame =
  | { kind: "event"; id?: string; event?: string; data: string }
  | { kind: "comment"; text: string }
  | { kind: "control"; retry?: number; id?: string };

/** Reads frames from a text/event-stream body, one at a time. */
export class SseReader {
  #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";

  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next frame, or undefined when the server closed the stream. */
  async next(timeoutMs = 5000): Promise<SseFrame | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.#buffer.indexOf("\n\n");
      if (end >= 0) {
        const block = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        return parseBlock(block);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no SSE frame within ${timeoutMs} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const chunk = await Promise.race([
        this.#reader.read(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no SSE frame within ${timeoutMs} ms`)),
            left,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      if (chunk.done) {
        if (this.#buffer.trim() !== "") {
          throw new Error(`stream ended inside a frame: ${this.#buffer}`);
        }
        return undefined;
      }
      this.#buffer += chunk.value;
    }
  }

  /** The next event frame, skipping comments and control blocks. */
  async nextEvent(
    timeoutMs = 5000,
  ): Promise<Extract<SseFrame, { kind: "event" }> | undefined> {
    for (;;) {
      const frame = await this.next(timeoutMs);
      if (!frame || frame.kind === "event") return frame;
    }
  }

  /** Stops reading (waiting at most `timeoutMs`); the server sees the client go away. */
  async cancel(timeoutMs = 5000): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#reader.cancel().catch(() => {}),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`SSE cancel not done within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
  }
}

function parseBlock(block: string): SseFrame {
  const lines = block.split("\n");
  if (lines.every((l) => l.startsWith(":"))) {
    return {
      kind: "comment",
      text: lines.map((l) => l.slice(1).trim()).join("\n"),
    };
  }
  const frame: { kind: "event"; id?: string; event?: string; data: string } = {
    kind: "event",
    data: "",
  };
  const data: string[] = [];
  let retry: number | undefined;
  for (const line of lines) {
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "id") frame.id = value;
    else if (field === "event") frame.event = value;
    else if (field === "data") data.push(value);
    else if (field === "retry") retry = Number(value);
  }
  if (data.length === 0) {
    return {
      kind: "control",
      ...(retry !== undefined ? { retry } : {}),
      ...(frame.id !== undefined ? { id: frame.id } : {}),
    };
  }
  frame.data = data.join("\n");
  return frame;
}
