/**
 * How a worker lets go of a claimed job. Each is one UPDATE guarded by
 * `locked_by = workerId` and a leased status, so a worker whose job was
 * reclaimed by another cannot overwrite the new owner's outcome; the terminal
 * `status` event is written in the same transaction.
 */
import { and, eq, inArray, sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { LEASED_STATUSES } from "./job_status.ts";
import { appendJobEvent } from "./append_job_event.ts";
import { type JobRow, jobs } from "./schema.ts";

type JobUpdate = Partial<typeof jobs.$inferInsert> | Record<string, unknown>;

async function finish(
  db: Queryable,
  id: string,
  workerId: string,
  set: JobUpdate,
  eventData: (row: JobRow) => Record<string, unknown>,
): Promise<JobRow | undefined> {
  return await db.transaction(async (tx) => {
    const [row] = await tx.update(jobs).set(set).where(and(
      eq(jobs.id, id),
      eq(jobs.lockedBy, workerId),
      inArray(jobs.status, [...LEASED_STATUSES]),
    )).returning();
    if (!row) return undefined;
    const event = await appendJobEvent(tx, id, "status", eventData(row));
    return { ...row, lastEventSeq: event.seq };
  });
}

/** Marks the job `succeeded` with the engine's result; undefined if not held. */
export function completeJob(
  db: Queryable,
  id: string,
  workerId: string,
  result: Record<string, unknown>,
): Promise<JobRow | undefined> {
  return finish(db, id, workerId, {
    status: "succeeded",
    result,
    finishedAt: sql`now()`,
    leaseUntil: null,
  }, () => ({ status: "succeeded", result }));
}

/** Marks the job `failed` with a coded error; undefined if not held. */
export function failJob(
  db: Queryable,
  id: string,
  workerId: string,
  error: { code: string; message: string },
): Promise<JobRow | undefined> {
  return finish(db, id, workerId, {
    status: "failed",
    error,
    finishedAt: sql`now()`,
    leaseUntil: null,
  }, () => ({ status: "failed", error }));
}

/** Marks the job `cancelled` after the worker stopped it; undefined if not held. */
export function markCancelled(
  db: Queryable,
  id: string,
  workerId: string,
): Promise<JobRow | undefined> {
  return finish(db, id, workerId, {
    status: "cancelled",
    finishedAt: sql`now()`,
    leaseUntil: null,
  }, () => ({ status: "cancelled" }));
}

/**
 * Hands a job back on a clean worker shutdown: it is queued again without
 * spending an attempt (a cancelling one is cancelled instead), and the next
 * claimer resumes from its latest checkpoint. Undefined if not held.
 */
export function releaseJob(
  db: Queryable,
  id: string,
  workerId: string,
): Promise<JobRow | undefined> {
  return finish(db, id, workerId, {
    status: sql`case when ${jobs.status} = 'cancelling'
      then 'cancelled'::job_status else 'queued'::job_status end`,
    attempts: sql`greatest(${jobs.attempts} - 1, 0)`,
    finishedAt: sql`case when ${jobs.status} = 'cancelling'
      then now() else null end`,
    lockedBy: null,
    leaseUntil: null,
  }, (row) => ({ status: row.status, reason: "worker_shutdown" }));
}
