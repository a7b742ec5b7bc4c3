/**
 * The CLI's exit codes and how a failure reads on stderr: usage mistakes with
 * the command's usage, API refusals as their problem+json (title, detail,
 * field errors), unreachable services with the URL tried.
 */
import { FngdApiError } from "../../sdk/mod.ts";

/** Exit codes; documented in `fngd --help`, so scripts may rely on them. */
export const EXIT = {
  ok: 0,
  /** An API refusal, an unreachable service, an unreadable file. */
  error: 1,
  usage: 2,
  /** The watched job failed. */
  jobFailed: 3,
  /** The watched job was cancelled. */
  jobCancelled: 4,
  /** Ctrl-C while watching: the job goes on. */
  interrupted: 130,
} as const;

/** A failure whose message is already fit to print. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT.error) {
    super(message);
    this.name = "CliError";
  }
}

/** A command line that cannot mean anything; printed with `usage`. */
export class UsageError extends CliError {
  constructor(message: string, readonly usage?: string) {
    super(message, EXIT.usage);
    this.name = "UsageError";
  }
}

/** The lines to print for `err` and the exit code, for any error thrown by a command. */
export function describeError(
  err: unknown,
  baseUrl?: string,
): { lines: string[]; exitCode: number } {
  if (err instanceof UsageError) {
    const lines = [`error: ${err.message}`];
    if (err.usage) lines.push("", err.usage);
    return { lines, exitCode: err.exitCode };
  }
  if (err instanceof CliError) {
    return { lines: [`error: ${err.message}`], exitCode: err.exitCode };
  }
  if (err instanceof FngdApiError) {
    return { lines: apiErrorLines(err), exitCode: EXIT.error };
  }
  if (err instanceof TypeError && baseUrl) {
    // fetch rejects with a TypeError when nothing answers at the address;
    // its cause says why (refused, unknown host, reset).
    const why = err.cause instanceof Error ? err.cause.message : err.message;
    return {
      lines: [
        `error: cannot reach the service at ${baseUrl}: ${why}`,
        "  (set FNGD_URL or pass --url)",
      ],
      exitCode: EXIT.error,
    };
  }
  return {
    lines: [`error: ${err instanceof Error ? err.message : String(err)}`],
    exitCode: EXIT.error,
  };
}

/** A problem+json refusal as lines: title, status and detail, then each invalid field. */
export function apiErrorLines(err: FngdApiError): string[] {
  const p = err.problem;
  if (!p) return [`error: the service answered HTTP ${err.status}`];
  const lines = [`error: ${p.title} (${p.status} ${p.code}): ${p.detail}`];
  for (const f of p.errors ?? []) {
    lines.push(`  ${f.path || "(request)"} (${f.in}): ${f.message}`);
  }
  if (p.errors_omitted) {
    lines.push(`  ... and ${p.errors_omitted} more invalid fields`);
  }
  if (err.status === 401) {
    lines.push("  (set FNGD_API_KEY or pass --api-key)");
  }
  return lines;
}
