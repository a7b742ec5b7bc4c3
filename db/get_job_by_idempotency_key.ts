/** Finds the job an Idempotency-Key already created, before admission checks. */
import { and, eq } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { type JobRow, jobs } from "./schema.ts";

/**
 * The job `tenant` created with `key`, if any: a retry must get it back even
 * when a new submission would now be refused (quota, size limit).
 */
export async function getJobByIdempotencyKey(
  db: Queryable,
  tenant: string,
  key: string,
): Promise<JobRow | undefined> {
  const [row] = await db.select().from(jobs)
    .where(and(eq(jobs.tenant, tenant), eq(jobs.idempotencyKey, key)));
  return row;
}
