/** Reads one job of one tenant. */
import { and, eq } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { isUuid } from "./_uuid.ts";
import { type JobRow, jobs } from "./schema.ts";

/** The job `id` of `tenant`; undefined for unknown, foreign or malformed ids. */
export async function getJob(
  db: Queryable,
  tenant: string,
  id: string,
): Promise<JobRow | undefined> {
  if (!isUuid(id)) return undefined;
  const [row] = await db.select().from(jobs)
    .where(and(eq(jobs.id, id), eq(jobs.tenant, tenant)));
  return row;
}
