/**
 * The wait between two polls of the database: up to the poll interval, ended
 * early by a NOTIFY (a hint that there is something to read) or by an abort.
 * A notification that lands while a query runs is kept as pending, so it is
 * never lost between two waits.
 */
import { sleep } from "./wait.ts";

export class PollTimer {
  #pending = false;
  #cut: AbortController | undefined;

  /** `signal`: the reader going away, which also ends a wait. */
  constructor(readonly signal: AbortSignal) {
    signal.addEventListener("abort", () => this.notify(), { once: true });
  }

  /** Ends the current wait, or the next one if none is in progress. */
  notify(): void {
    this.#pending = true;
    this.#cut?.abort();
  }

  /** Resolves after `ms`, or sooner on a notification or abort. */
  async wait(ms: number): Promise<void> {
    if (!this.#pending && !this.signal.aborted) {
      this.#cut = new AbortController();
      await sleep(ms, this.#cut.signal);
      this.#cut = undefined;
    }
    this.#pending = false;
  }
}
