/**
 * The job states, defined once. The drizzle pg enum, the API's zod schemas and
 * the docs all read this list, so a new state is added in exactly one place.
 */

/** Every state a job can be in, in lifecycle order. */
export const JOB_STATUSES = [
  "queued",
  "running",
  "cancelling",
  "succeeded",
  "failed",
  "cancelled",
] as const;

/** One job state. */
export type JobStatus = (typeof JOB_STATUSES)[number];

/** States a job never leaves. */
export const TERMINAL_STATUSES = [
  "succeeded",
  "failed",
  "cancelled",
] as const satisfies readonly JobStatus[];

/** States held by a worker under a lease. */
export const LEASED_STATUSES = [
  "running",
  "cancelling",
] as const satisfies readonly JobStatus[];

/** A terminal state. */
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

/** True when `status` is final. */
export function isTerminalStatus(status: string): status is TerminalStatus {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}
