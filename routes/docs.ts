/** GET /openapi.json and GET /docs, both built from the app's own routes. */
import { createRoute, z } from "@hono/zod-openapi";
import { renderDocsPage } from "./_docs_page.ts";
import { newRouter } from "./_router.ts";

/** The document's info block; routes fill in the paths. */
export const OPENAPI_INFO = {
  openapi: "3.1.0",
  info: {
    title: "FNGD training service",
    version: "1.0.0",
    description:
      "Submit neural-network training jobs (FNGD or a baseline optimizer), follow them live over server-sent events, and read their metrics and cached FNGD coefficients. Errors are application/problem+json.",
  },
};

const spec = createRoute({
  method: "get",
  path: "/openapi.json",
  summary: "This API's OpenAPI 3.1 document",
  responses: {
    200: {
      description: "the document",
      content: {
        "application/json": { schema: z.record(z.string(), z.unknown()) },
      },
    },
  },
});

const page = createRoute({
  method: "get",
  path: "/docs",
  summary: "Interactive API reference",
  responses: {
    200: {
      description: "an HTML page",
      content: { "text/html": { schema: z.string() } },
    },
  },
});

/** The docs routes; `document` returns the whole app's OpenAPI document. */
export function docRoutes(document: () => object) {
  // Built on first use: by then every route has registered itself.
  let cached: { doc: Record<string, unknown>; html: string } | undefined;
  const get = () => {
    if (!cached) {
      const doc = document() as Record<string, unknown>;
      cached = { doc, html: renderDocsPage(doc) };
    }
    return cached;
  };
  return newRouter()
    .openapi(spec, (c) => c.json(get().doc, 200))
    .openapi(page, (c) => c.html(get().html, 200));
}
