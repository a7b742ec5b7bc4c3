/** Subprocess helpers for the worker and end-to-end tests. */

const ROOT = new URL("../", import.meta.url);

/** A spawned Deno process with its output collected. */
export interface Spawned {
  child: Deno.ChildProcess;
  /** stdout and stderr so far, interleaved. */
  output(): string;
  /** Resolves with each stdout line as it arrives until `pred` holds; rejects after `timeoutMs`. */
  waitForLine(
    pred: (line: string) => boolean,
    timeoutMs: number,
  ): Promise<string>;
  /** Sends `signal` (default SIGTERM) and waits for exit. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** Runs `deno <args>` in the repository root with `env` added. */
export function spawnDeno(
  args: string[],
  env: Record<string, string>,
): Spawned {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const waiters: {
    pred: (l: string) => boolean;
    resolve: (l: string) => void;
  }[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>, lines: boolean) => {
    let partial = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      if (!lines) continue;
      partial += chunk;
      const parts = partial.split("\n");
      partial = parts.pop()!;
      for (const line of parts) {
        for (const w of [...waiters]) {
          if (w.pred(line)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    }
  };
  const pumps = Promise.all([
    pump(child.stdout, true),
    pump(child.stderr, false),
  ]);
  let exited: Promise<Deno.CommandStatus> | undefined;
  const status = () =>
    exited ??= child.status.then(async (s) => (await pumps, s));
  return {
    child,
    output: () => text,
    waitForLine(pred, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `no matching line within ${timeoutMs} ms; output:\n${text}`,
              ),
            ),
          timeoutMs,
        );
        waiters.push({
          pred,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
      });
    },
    async stop(signal: Deno.Signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch {
        // already exited
      }
      return await status();
    },
  };
}

/** Polls `probe` every `intervalMs` until it returns a value other than undefined. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
