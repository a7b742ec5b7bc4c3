/**
 * The wait between an SSE stream's polls: up to `ms`, ended early by a NOTIFY
 * for a followed job or by the client leaving. A notification that lands
 * while a query runs is kept in `pending`, so it is never lost between two
 * waits.
 */
export class PollTimer {
  #pending = false;
  #wake: (() => void) | undefined;

  /** `signal`: the client going away, which also ends a wait. */
  constructor(readonly signal: AbortSignal) {
    signal.addEventListener("abort", () => this.notify());
  }

  /** Ends the current wait, or the next one if none is in progress. */
  notify(): void {
    this.#pending = true;
    this.#wake?.();
  }

  /** Resolves after `ms`, or sooner on a notification or abort. */
  wait(ms: number): Promise<void> {
    if (this.#pending || this.signal.aborted) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        this.#pending = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }
}
