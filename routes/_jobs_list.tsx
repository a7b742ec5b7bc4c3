/**
 * The jobs list: its filter form and the table, which the page embeds when
 * it may render data and GET /ui/jobs serves alone for the page's script.
 */
import type { FC } from "hono/jsx";
import { JOB_STATUSES } from "../db/mod.ts";
import { OPTIMIZER_NAMES } from "../src/engine/spec.ts";
import {
  type JobFilters,
  type JobListView,
  type JobView,
  optimizerOf,
} from "./_dashboard_jobs.ts";
import { fmtNumber, fmtTime } from "./_page_format.ts";

/** `?status=...&optimizer=...` of the filters, plus `after` when given. */
export function filterQuery(filters: JobFilters, after?: string): string {
  const q = new URLSearchParams();
  if (filters.status) q.set("status", filters.status);
  if (filters.optimizer) q.set("optimizer", filters.optimizer);
  if (after) q.set("after", after);
  const s = q.toString();
  return s ? `?${s}` : "";
}

export const StatusBadge: FC<{ status: string }> = ({ status }) => (
  <span class={`status status-${status}`} data-status={status}>{status}</span>
);

/** Done fraction of a job: finished epochs plus the running one's steps. */
function progressOf(job: JobView): { value: number; label: string } {
  const epochs = job.spec.epochs;
  if (job.status === "succeeded") return { value: 1, label: "done" };
  const p = job.progress;
  if (!p) return { value: 0, label: "–" };
  const value = Math.min(
    1,
    ((p.epoch - 1) + (p.steps > 0 ? p.step / p.steps : 0)) / epochs,
  );
  return {
    value,
    label: `epoch ${p.epoch}/${epochs}, step ${p.step}/${p.steps}`,
  };
}

export const JobProgress: FC<{ job: JobView }> = ({ job }) => {
  const { value, label } = progressOf(job);
  return (
    <span class="progress">
      <progress max={1} value={value}></progress> <small>{label}</small>
    </span>
  );
};

export const LatestMetrics: FC<{ job: JobView }> = ({ job }) => {
  const m = job.latest_metrics;
  if (!m) return <span class="muted">–</span>;
  return (
    <span>
      epoch {m.epoch}: loss {fmtNumber(m.train_loss)}
      {m.val_loss !== null && <>, val loss {fmtNumber(m.val_loss)}</>}
      {m.val_accuracy !== null && <>, val acc {fmtNumber(m.val_accuracy)}</>}
    </span>
  );
};

const JobRow: FC<{ job: JobView }> = ({ job }) => (
  <tr data-job-id={job.id} data-status={job.status}>
    <td>
      <a href={`/jobs/${job.id}`} class="mono">{job.id.slice(0, 8)}</a>
    </td>
    <td>
      <StatusBadge status={job.status} />
    </td>
    <td>{optimizerOf(job.spec) ?? "–"}</td>
    <td>
      <JobProgress job={job} />
    </td>
    <td>
      <LatestMetrics job={job} />
    </td>
    <td>
      <time datetime={job.created_at}>{fmtTime(job.created_at)}</time>
    </td>
  </tr>
);

/** The table and its pager: `#jobs-list`, replaced whole on each refresh. */
export const JobsList: FC<{ page: JobListView; filters: JobFilters }> = (
  { page, filters },
) => (
  <div id="jobs-list" data-count={page.jobs.length}>
    {page.jobs.length === 0
      ? <p class="notice">No jobs match.</p>
      : (
        <table class="jobs">
          <thead>
            <tr>
              <th>job</th>
              <th>status</th>
              <th>optimizer</th>
              <th>progress</th>
              <th>latest metrics</th>
              <th>created</th>
            </tr>
          </thead>
          <tbody>
            {page.jobs.map((job) => <JobRow key={job.id} job={job} />)}
          </tbody>
        </table>
      )}
    <p class="pager">
      {filters.after && <a href={`/${filterQuery(filters)}`}>Newest</a>}{" "}
      {page.next && <a href={`/${filterQuery(filters, page.next)}`}>Older</a>}
    </p>
  </div>
);

/** A GET form: filtering is a plain navigation, so it works without script. */
export const JobsFilterForm: FC<{ filters: JobFilters }> = ({ filters }) => (
  <form method="get" action="/" class="filters">
    <label>
      status{" "}
      <select name="status">
        <option value="">any</option>
        {JOB_STATUSES.map((s) => (
          <option key={s} value={s} selected={filters.status === s}>{s}</option>
        ))}
      </select>
    </label>{" "}
    <label>
      optimizer{" "}
      <select name="optimizer">
        <option value="">any</option>
        {OPTIMIZER_NAMES.map((o) => (
          <option key={o} value={o} selected={filters.optimizer === o}>
            {o}
          </option>
        ))}
      </select>
    </label>{" "}
    <button type="submit">Filter</button>
  </form>
);
