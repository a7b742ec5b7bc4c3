/** GET /openapi.json and GET /docs, both built from the app's own routes. */
import { createRoute, z } from "@hono/zod-openapi";
import { renderReferencePage } from "./_reference_page.tsx";
import { setPageHeaders } from "./_page_headers.ts";
import { MISDIRECTED_RESPONSE } from "./problem.ts";
import { newRouter } from "./_router.ts";

/** The document's top level; routes fill in the paths. */
export const OPENAPI_INFO = {
  openapi: "3.1.0",
  info: {
    title: "FNGD training service",
    version: "1.0.0",
    description:
      "Submit neural-network training jobs (FNGD or a baseline optimizer), follow them live over server-sent events, and read their metrics and cached FNGD coefficients. Errors are application/problem+json.",
    // The repository states no licence: "all rights reserved" until its
    // owners choose one (an SPDX LicenseRef, as OpenAPI 3.1 allows).
    license: {
      name: "Proprietary",
      identifier: "LicenseRef-Proprietary",
    },
  },
  servers: [{
    url: "http://127.0.0.1:8787",
    description:
      "a local `deno task start` (HOST and PORT defaults); generated clients take any other base URL",
  }],
  tags: [
    { name: "jobs", description: "submit, list, read and cancel jobs" },
    {
      name: "events",
      description: "a job's event log: JSON pages, and live over SSE",
    },
    {
      name: "results",
      description: "per-epoch metrics, FNGD coefficients, the trained model",
    },
    {
      name: "comparisons",
      description: "one spec, several optimizers and seeds",
    },
    { name: "datasets", description: "uploaded training data" },
    {
      name: "service",
      description: "health, readiness, Prometheus metrics, this reference",
    },
  ],
};

const spec = createRoute({
  method: "get",
  path: "/openapi.json",
  operationId: "getOpenApiDocument",
  tags: ["service"],
  summary: "This API's OpenAPI 3.1 document",
  security: [],
  responses: {
    200: {
      description: "the document",
      content: {
        "application/json": { schema: z.record(z.string(), z.unknown()) },
      },
    },
    421: MISDIRECTED_RESPONSE,
  },
});

const page = createRoute({
  method: "get",
  path: "/docs",
  operationId: "getDocsPage",
  tags: ["service"],
  summary: "Interactive API reference",
  security: [],
  responses: {
    200: {
      description: "an HTML page",
      content: { "text/html": { schema: z.string() } },
    },
    421: MISDIRECTED_RESPONSE,
  },
});

/** The docs routes; `document` returns the whole app's OpenAPI document. */
export function docRoutes(document: () => object) {
  // Built on first use: by then every route has registered itself.
  let cached: { doc: Record<string, unknown>; html: string } | undefined;
  const get = () => {
    if (!cached) {
      const doc = document() as Record<string, unknown>;
      cached = {
        doc,
        html: renderReferencePage(OPENAPI_INFO.info.title, spec.path),
      };
    }
    return cached;
  };
  return newRouter()
    .openapi(spec, (c) => c.json(get().doc, 200))
    .openapi(page, (c) => {
      setPageHeaders(c);
      return c.html(get().html, 200);
    });
}
