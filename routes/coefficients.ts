/**
 * GET /v1/jobs/{id}/coefficients: FNGD's cached per-layer coefficients, as a
 * summary per layer or, with `batch` and `layer`, one raw vector.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { getCoefficientVector, summarizeCoefficients } from "../db/mod.ts";
import {
  ApiError,
  DATABASE_UNAVAILABLE_RESPONSE,
  problemResponse,
} from "../src/problem.ts";
import { findJob, JobIdParam } from "./_job_lookup.ts";
import { type AppDeps, BEARER_SECURITY, newRouter } from "./_router.ts";

const index = z.coerce.number().int().min(0).max(2 ** 31 - 1);

const LayerSummary = z.object({
  layer: z.int(),
  batches: z.int(),
  mean: z.number(),
  min: z.number(),
  max: z.number(),
  damping: z.number(),
}).openapi("CoefficientLayerSummary");

const Summary = z.object({ layers: z.array(LayerSummary) }).openapi(
  "CoefficientSummary",
);

const Vector = z.object({
  batch: z.int(),
  layer: z.int(),
  coefficients: z.array(z.number()),
}).openapi("CoefficientVector");

const coefficients = createRoute({
  method: "get",
  path: "/v1/jobs/{id}/coefficients",
  summary: "FNGD coefficients: per-layer summary, or one raw vector",
  description:
    "Without query parameters: `{layers: [...]}` shaped like the `coefficients` event. With `batch` and `layer` (both): that batch's coefficient vector for that layer.",
  security: BEARER_SECURITY,
  request: {
    params: JobIdParam,
    query: z.object({ batch: index.optional(), layer: index.optional() })
      .refine((q) => (q.batch === undefined) === (q.layer === undefined), {
        error: "give batch and layer together, or neither",
        path: ["batch"],
      }),
  },
  responses: {
    200: {
      description: "the summary, or one vector",
      content: { "application/json": { schema: z.union([Summary, Vector]) } },
    },
    400: problemResponse("only one of batch and layer given"),
    401: problemResponse("missing or invalid API key"),
    404: problemResponse("no such job, or no vector for that batch and layer"),
    503: DATABASE_UNAVAILABLE_RESPONSE,
  },
});

/** The coefficients route. */
export function coefficientRoutes({ db }: AppDeps) {
  return newRouter().openapi(coefficients, async (c) => {
    const job = await findJob(db, c.get("tenant"), c.req.valid("param").id);
    const { batch, layer } = c.req.valid("query");
    if (batch === undefined || layer === undefined) {
      const summary = await summarizeCoefficients(db, job.id);
      return c.json({ layers: summary.layers }, 200);
    }
    const vector = await getCoefficientVector(db, job.id, batch, layer);
    if (!vector) {
      throw new ApiError(
        "coefficients_not_found",
        `job ${job.id} has no coefficients for batch ${batch}, layer ${layer}`,
      );
    }
    return c.json({ batch, layer, coefficients: Array.from(vector) }, 200);
  });
}
