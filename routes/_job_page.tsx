/**
 * The job page: the summary (or a placeholder the script fills with the
 * visitor's key), and the parts job_page.js keeps live from the event
 * stream: status, step-loss and epoch charts, the epochs with their phase,
 * FNGD's coefficient summary, cancel and model download.
 */
import type { FC } from "hono/jsx";
import type { JobView } from "./_dashboard_jobs.ts";
import { JobSummary } from "./_job_summary.tsx";
import { Layout, type PageAuth } from "./_page_layout.tsx";

export const JobPage: FC<{ id: string; auth: PageAuth; job?: JobView }> = (
  { id, auth, job },
) => {
  const model = `/v1/jobs/${id}/model`;
  return (
    <Layout
      title={`Job ${id.slice(0, 8)}`}
      auth={auth}
      styles={["/assets/vendor/uPlot.min.css"]}
      scripts={["/assets/vendor/uPlot.iife.min.js"]}
      module="/assets/app/job_page.js"
    >
      <div id="job" data-job-id={id}>
        <h1>
          Job <span class="mono">{id}</span>{" "}
          <span id="live-status" class="status" data-status={job?.status}>
            {job?.status ?? "…"}
          </span>
        </h1>
        <p id="job-notice" class="notice" hidden></p>
        <div class="actions">
          <button id="cancel-job" type="button" disabled>Cancel job</button>
          <a
            id="download-model"
            class="button"
            href={model}
            download="model.json"
            aria-disabled="true"
          >
            model.json
          </a>
          <a
            id="download-weights"
            class="button"
            href={`${model}/weights.bin`}
            download="weights.bin"
            aria-disabled="true"
          >
            weights.bin
          </a>
        </div>
        {job ? <JobSummary job={job} /> : (
          <section id="job-summary">
            <p class="muted">Loading…</p>
          </section>
        )}
        <div class="charts">
          <figure>
            <figcaption>Training loss by step</figcaption>
            <div id="loss-chart" class="chart" data-points="0"></div>
          </figure>
          <figure>
            <figcaption>Per-epoch metrics</figcaption>
            <div id="epoch-chart" class="chart" data-points="0"></div>
          </figure>
        </div>
        <h2>Epochs</h2>
        <table class="epochs">
          <thead>
            <tr>
              <th>epoch</th>
              <th>phase</th>
              <th>steps</th>
              <th>seconds</th>
              <th>train loss</th>
              <th>val loss</th>
              <th>val accuracy</th>
              <th>lr</th>
            </tr>
          </thead>
          <tbody id="epoch-rows"></tbody>
        </table>
        <h2>FNGD coefficients</h2>
        <div id="coefficients">
          <p class="muted">None yet.</p>
        </div>
        <h2>Staleness probes</h2>
        <div id="staleness">
          <p class="muted">None yet.</p>
        </div>
      </div>
    </Layout>
  );
};
