/**
 * The dashboard's view of a tenant's jobs: the API's own queries (listJobs,
 * getJob, getLatestEpochMetric) and its JSON shape (shapeJob), with the
 * dashboard's filters read leniently from a query string.
 */
import {
  type Db,
  getJob,
  getLatestEpochMetric,
  isUuid,
  JOB_STATUSES,
  type JobRow,
  type JobStatus,
  listJobs,
} from "../db/mod.ts";
import { OPTIMIZER_NAMES, type OptimizerName } from "../src/engine/spec.ts";
import { shapeJob } from "./jobs.ts";

/** A job as the API returns it. */
export type JobView = ReturnType<typeof shapeJob>;

/** What the jobs list is narrowed to; `after` is a job id cursor. */
export interface JobFilters {
  status?: JobStatus;
  optimizer?: OptimizerName;
  after?: string;
}

/** Jobs per dashboard page. */
export const JOBS_PER_PAGE = 25;

/** One page of the list. `next` is the cursor of the page after it, if any. */
export interface JobListView {
  jobs: JobView[];
  next?: string;
}

/**
 * Filters from a query string. A page must not fail on a hand-edited URL,
 * so values that are not a status, an optimizer or a job id are ignored.
 */
export function readFilters(query: Record<string, string>): JobFilters {
  const pick = <T extends string>(list: readonly T[], v: string | undefined) =>
    list.includes(v as T) ? v as T : undefined;
  return {
    status: pick(JOB_STATUSES, query.status),
    optimizer: pick(OPTIMIZER_NAMES, query.optimizer),
    after: query.after !== undefined && isUuid(query.after)
      ? query.after
      : undefined,
  };
}

/** The optimizer a stored spec names. */
export function optimizerOf(spec: unknown): string | undefined {
  const name = (spec as { optimizer?: { name?: unknown } } | null)?.optimizer
    ?.name;
  return typeof name === "string" ? name : undefined;
}

function view(db: Db, row: JobRow): Promise<JobView> {
  return getLatestEpochMetric(db, row.id).then((m) => shapeJob(row, m));
}

/** One page of `tenant`'s jobs, newest first, as the filters say. */
export async function listJobViews(
  db: Db,
  tenant: string,
  filters: JobFilters,
): Promise<JobListView> {
  const done = async (rows: JobRow[], next?: string) => ({
    jobs: await Promise.all(rows.map((r) => view(db, r))),
    next,
  });
  const page = await listJobs(db, tenant, {
    status: filters.status,
    optimizer: filters.optimizer,
    after: filters.after,
    limit: JOBS_PER_PAGE,
  });
  return done(page.data, page.has_more ? page.data.at(-1)?.id : undefined);
}

/** `tenant`'s job `id`, or undefined (also for an id that is no uuid). */
export async function findJobView(
  db: Db,
  tenant: string,
  id: string,
): Promise<JobView | undefined> {
  if (!isUuid(id)) return undefined;
  const row = await getJob(db, tenant, id);
  return row && await view(db, row);
}
