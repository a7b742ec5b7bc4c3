/** The error a fenced write raises when the worker no longer holds its job. */
import type { JobLease } from "../db/mod.ts";

/**
 * Thrown when a write's lease check fails: another worker claimed the job,
 * or it was finished or reaped. The run must stop and write nothing more.
 */
export class LeaseLostError extends Error {
  constructor(lease: JobLease, options?: ErrorOptions) {
    super(
      `lost the lease of job ${lease.jobId} (attempt ${lease.attempt}, worker ${lease.workerId})`,
      options,
    );
    this.name = "LeaseLostError";
  }
}

/** Throws {@link LeaseLostError} unless the fenced write reported `held`. */
export function assertHeld(held: boolean, lease: JobLease): void {
  if (!held) throw new LeaseLostError(lease);
}
