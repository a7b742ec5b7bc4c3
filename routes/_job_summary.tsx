/**
 * A job's facts (status, spec, times, outcome): `#job-summary`, embedded in
 * the job page when it may render data and served alone by GET /ui/jobs/{id}
 * for the page's script, which swaps it in on every status change.
 */
import type { FC } from "hono/jsx";
import { type JobView, optimizerOf } from "./_dashboard_jobs.ts";
import { JobProgress, LatestMetrics, StatusBadge } from "./_jobs_list.tsx";
import { fmtNumber, fmtTime } from "./_page_format.ts";

function datasetLabel(dataset: unknown): string {
  const d = dataset as { name?: unknown; id?: unknown } | null;
  if (typeof d?.name === "string") return d.name;
  if (typeof d?.id === "string") return `upload ${d.id}`;
  return "–";
}

const Outcome: FC<{ job: JobView }> = ({ job }) => {
  if (job.error) {
    return (
      <p class="error" id="job-error">
        <b>{job.error.code}</b>: {job.error.message}
      </p>
    );
  }
  if (!job.result) return null;
  const f = job.result.final;
  return (
    <p id="job-result">
      final: train loss {fmtNumber(f.train_loss)}, val loss{" "}
      {fmtNumber(f.val_loss)}, val accuracy {fmtNumber(f.val_accuracy)}
      {f.test_accuracy !== undefined && (
        <>, test accuracy {fmtNumber(f.test_accuracy)}</>
      )}; {job.result.counters.steps} steps, {job.result.counters.solves} solves
    </p>
  );
};

export const JobSummary: FC<{ job: JobView }> = ({ job }) => {
  const optimizer = job.spec.optimizer as { name: string; lr?: unknown };
  return (
    <section id="job-summary" data-status={job.status}>
      <dl class="facts">
        <dt>status</dt>
        <dd>
          <StatusBadge status={job.status} />
          {job.cancel_requested_at && job.status === "cancelling" && (
            <small>cancel requested</small>
          )}
        </dd>
        <dt>optimizer</dt>
        <dd>
          {optimizerOf(job.spec) ?? "–"}
          {typeof optimizer.lr === "number" && ` (lr ${optimizer.lr})`}
          {optimizer.lr === "auto" && " (lr auto)"}
        </dd>
        <dt>dataset</dt>
        <dd>{datasetLabel(job.spec.dataset)}</dd>
        <dt>epochs</dt>
        <dd>
          {job.spec.epochs}, batch {job.spec.batch_size}
        </dd>
        <dt>progress</dt>
        <dd>
          <JobProgress job={job} />
        </dd>
        <dt>latest</dt>
        <dd>
          <LatestMetrics job={job} />
        </dd>
        <dt>attempts</dt>
        <dd>
          {job.attempts} of {job.max_attempts}
        </dd>
        <dt>created</dt>
        <dd>{fmtTime(job.created_at)}</dd>
        <dt>started</dt>
        <dd>{fmtTime(job.started_at)}</dd>
        <dt>finished</dt>
        <dd>{fmtTime(job.finished_at)}</dd>
      </dl>
      <Outcome job={job} />
    </section>
  );
};
