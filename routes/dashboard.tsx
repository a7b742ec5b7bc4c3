/**
 * The dashboard: GET / (the jobs list) and GET /jobs/{id} (one job, live),
 * rendered on the server with the API's own queries, and the fragments their
 * scripts refresh: GET /ui/jobs and GET /ui/jobs/{id}. Outside the OpenAPI
 * document: these are pages, not the API.
 *
 * A page load cannot carry a bearer key, so with API_KEYS set the pages are
 * a shell with no tenant's data in it, and their scripts fetch the fragments
 * with the key the visitor typed; the fragments are authenticated exactly as
 * /v1 is. Without API_KEYS there is one tenant on a loopback-only server,
 * and the pages embed their data (they work without script).
 */
import { Hono, type MiddlewareHandler } from "hono";
import { isUuid } from "../db/mod.ts";
import { authMiddleware, DEFAULT_TENANT } from "./_auth.ts";
import { findJobView, listJobViews, readFilters } from "./_dashboard_jobs.ts";
import { JobPage } from "./_job_page.tsx";
import { JobSummary } from "./_job_summary.tsx";
import { JobsList } from "./_jobs_list.tsx";
import { JobsPage } from "./_jobs_page.tsx";
import { NotFoundPage, type PageAuth } from "./_page_layout.tsx";
import { setPageHeaders } from "./_page_headers.ts";
import { ApiError } from "./problem.ts";
import type { AppDeps, AppEnv } from "./_router.ts";

/** The dashboard routes. */
export async function dashboardRoutes({ db, options, breaker }: AppDeps) {
  const keyed = options.apiKeys !== undefined;
  const auth: PageAuth = keyed ? "required" : "off";
  // As on /v1: while the database is known down, 503 at once.
  const dbGate: MiddlewareHandler = async (_c, next) => {
    await breaker.admit();
    await next();
  };
  const tenantAuth = await authMiddleware(options.apiKeys);
  return new Hono<AppEnv>()
    .use("/ui/*", tenantAuth, dbGate)
    .get("/", async (c) => {
      const filters = readFilters(c.req.query());
      setPageHeaders(c);
      if (keyed) return c.html(<JobsPage auth={auth} filters={filters} />);
      await breaker.admit();
      const page = await listJobViews(db, DEFAULT_TENANT, filters);
      return c.html(<JobsPage auth={auth} filters={filters} page={page} />);
    })
    .get("/jobs/:id", async (c) => {
      const id = c.req.param("id");
      setPageHeaders(c);
      const notFound = () =>
        c.html(
          <NotFoundPage
            auth={auth}
            message={`There is no job ${id.slice(0, 100)}${
              keyed ? "" : " here"
            }.`}
          />,
          404,
        );
      if (keyed) {
        // Only a malformed id can be refused before the key is known.
        return isUuid(id)
          ? c.html(<JobPage id={id} auth={auth} />)
          : notFound();
      }
      await breaker.admit();
      const job = await findJobView(db, DEFAULT_TENANT, id);
      return job
        ? c.html(<JobPage id={job.id} auth={auth} job={job} />)
        : notFound();
    })
    .get("/ui/jobs", async (c) => {
      const filters = readFilters(c.req.query());
      const page = await listJobViews(db, c.get("tenant"), filters);
      c.header("cache-control", "no-store");
      return c.html(<JobsList page={page} filters={filters} />);
    })
    .get("/ui/jobs/:id", async (c) => {
      const id = c.req.param("id");
      const job = await findJobView(db, c.get("tenant"), id);
      if (!job) {
        throw new ApiError(
          "job_not_found",
          `no job ${id.slice(0, 100)} for this tenant`,
        );
      }
      c.header("cache-control", "no-store");
      return c.html(<JobSummary job={job} />);
    });
}
