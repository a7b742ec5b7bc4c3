/** The dashboard's home: the filter form and the jobs list (or its placeholder). */
import type { FC } from "hono/jsx";
import type { JobFilters, JobListView } from "./_dashboard_jobs.ts";
import { JobsFilterForm, JobsList } from "./_jobs_list.tsx";
import { Layout, type PageAuth } from "./_page_layout.tsx";

export const JobsPage: FC<
  { auth: PageAuth; filters: JobFilters; page?: JobListView }
> = ({ auth, filters, page }) => (
  <Layout title="Jobs" auth={auth} module="/assets/app/jobs_page.js">
    <h1>Jobs</h1>
    <JobsFilterForm filters={filters} />
    {page ? <JobsList page={page} filters={filters} /> : (
      <div id="jobs-list">
        <p class="muted">Loading…</p>
      </div>
    )}
  </Layout>
);
