/**
 * Watching a job: its event stream, from the first event, through the SDK
 * (which resumes a dropped connection with Last-Event-ID), rendered as bars
 * on a terminal or as plain lines otherwise, ending with the job's outcome
 * as the exit code.
 */
import type { FngdClient, JobStatus } from "../../sdk/mod.ts";
import { isTerminal } from "../../sdk/mod.ts";
import { BarsView } from "./_bars.ts";
import { CliError, EXIT } from "./_errors.ts";
import { duration, num, resultLine } from "./_format.ts";
import { type ProgressState, ProgressTracker } from "./_progress.ts";

/** Where a watch prints. */
export interface View {
  /** A lasting line (an epoch, a status change). */
  line(text: string): void;
  /** A note about the watch itself (a reconnection). */
  warn(text: string): void;
  /** The bars moved. */
  progress(state: ProgressState): void;
  /** The watch is over: take the bars down. */
  close(): void;
}

/**
 * Lines only, for logs and pipes: every lasting line, and a step line only
 * when nothing has been printed for `quietMs` (a long epoch still shows
 * signs of life; a short job prints none).
 */
export class PlainView implements View {
  #last = -Infinity;

  constructor(
    private readonly out: (text: string) => void = console.log,
    private readonly err: (text: string) => void = console.error,
    private readonly quietMs = 15_000,
    private readonly now: () => number = Date.now,
  ) {}

  line(text: string): void {
    this.out(text);
    this.#last = this.now();
  }

  warn(text: string): void {
    this.err(text);
  }

  progress(s: ProgressState): void {
    if (s.step >= s.steps || this.now() - this.#last < this.quietMs) return;
    const parts = [
      `epoch ${s.epoch}/${s.epochs}  step ${s.step}/${s.steps}`,
      s.loss === undefined ? "" : `loss ${num(s.loss)}`,
      s.phase ?? "",
      s.jobEta === undefined ? "" : `ETA ${duration(s.jobEta)}`,
    ];
    this.line(parts.filter(Boolean).join("  "));
  }

  close(): void {}
}

/** The exit code for a finished job's status. */
export function exitCodeFor(status: JobStatus): number {
  if (status === "succeeded") return EXIT.ok;
  if (status === "cancelled") return EXIT.jobCancelled;
  return EXIT.jobFailed;
}

/**
 * Follows job `id` until it is finished, printing to `view`; resolves with
 * the exit code for its outcome, or {@link EXIT.interrupted} once `signal`
 * aborts (the job goes on).
 */
export async function watchJob(
  api: FngdClient,
  id: string,
  view: View,
  signal?: AbortSignal,
): Promise<number> {
  const job = await api.jobs.get(id);
  const tracker = new ProgressTracker(job.spec.epochs);
  try {
    const events = api.jobs.stream(id, {
      signal,
      onReconnect: (info) =>
        view.warn(
          `connection lost; reconnecting in ${
            duration(info.delayMs / 1000)
          } (attempt ${info.attempt})`,
        ),
    });
    for await (const event of events) {
      for (const out of tracker.handle(event)) {
        if (out.kind === "line") view.line(out.text);
        else if (out.kind === "warn") view.warn(out.text);
        else view.progress(out.state);
      }
    }
  } catch (err) {
    if (!signal?.aborted) throw err;
    view.close();
    console.error(
      `stopped watching job ${id}; it goes on (fngd jobs watch ${id} follows it again, fngd jobs cancel ${id} stops it)`,
    );
    return EXIT.interrupted;
  } finally {
    view.close();
  }
  // The stream ends after the terminal status event; should it end without
  // one, the job itself says how it stands.
  let final = tracker.final;
  if (!final) {
    const now = await api.jobs.get(id);
    if (!isTerminal(now.status)) {
      throw new CliError(
        `the event stream of job ${id} ended while it was ${now.status}`,
      );
    }
    final = {
      status: now.status,
      result: now.result ?? undefined,
      error: now.error ?? undefined,
    };
  }
  const error = final.error ?? tracker.error;
  if (final.status === "succeeded") {
    console.log(
      `job ${id} succeeded${
        final.result ? `  ${resultLine(final.result)}` : ""
      }`,
    );
  } else if (final.status === "cancelled") {
    console.error(`job ${id} was cancelled`);
  } else {
    console.error(
      `error: job ${id} failed${
        error ? ` (${error.code}): ${error.message}` : ""
      }`,
    );
  }
  return exitCodeFor(final.status);
}

/**
 * {@link watchJob} as the CLI runs it: bars when stdout is a terminal,
 * plain lines otherwise, and Ctrl-C stops the watch, not the job.
 */
export async function watchFromCli(
  api: FngdClient,
  id: string,
): Promise<number> {
  const view = Deno.stdout.isTerminal() ? new BarsView() : new PlainView();
  const stop = new AbortController();
  const onInterrupt = () => stop.abort(new Error("interrupted"));
  Deno.addSignalListener("SIGINT", onInterrupt);
  try {
    return await watchJob(api, id, view, stop.signal);
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
}
