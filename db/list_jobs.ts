/** Pages through a tenant's jobs, newest first. */
import { and, desc, eq, type SQL, sql } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import type { JobStatus } from "./job_status.ts";
import { isUuid } from "./_uuid.ts";
import { type JobRow, jobs } from "./schema.ts";

/** Filters and cursor of {@link listJobs}. */
export interface ListJobsOptions {
  status?: JobStatus;
  /** The optimizer name the job's spec asks for. */
  optimizer?: string;
  /** Opaque cursor: the id of the last job of the previous page. */
  after?: string;
  limit: number;
}

/**
 * One page of `tenant`'s jobs, newest first. Keyset pagination on
 * (created_at, id) keeps pages stable while new jobs arrive. An unknown or
 * malformed cursor yields an empty page.
 */
export async function listJobs(
  db: Queryable,
  tenant: string,
  opts: ListJobsOptions,
): Promise<{ data: JobRow[]; has_more: boolean }> {
  const where: SQL[] = [eq(jobs.tenant, tenant)];
  if (opts.status) where.push(eq(jobs.status, opts.status));
  if (opts.optimizer) {
    where.push(sql`${jobs.spec}->'optimizer'->>'name' = ${opts.optimizer}`);
  }
  if (opts.after !== undefined) {
    if (!isUuid(opts.after)) return { data: [], has_more: false };
    where.push(sql`(${jobs.createdAt}, ${jobs.id}) < (
      select c.created_at, c.id from jobs c
      where c.id = ${opts.after} and c.tenant = ${tenant})`);
  }
  const rows = await db.select().from(jobs)
    .where(and(...where))
    .orderBy(desc(jobs.createdAt), desc(jobs.id))
    .limit(opts.limit + 1);
  return {
    data: rows.slice(0, opts.limit),
    has_more: rows.length > opts.limit,
  };
}
