/**
 * GET /v1/jobs/{id}/coefficients: FNGD's cached per-layer coefficients, as a
 * summary per layer with the per-epoch refresh history or, with `batch` and
 * `layer`, one raw vector (the latest, or that of `epoch`).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { getCoefficientVector } from "../db/mod.ts";
import {
  ApiError,
  DATABASE_UNAVAILABLE_RESPONSE,
  MISDIRECTED_RESPONSE,
  problemResponse,
} from "./problem.ts";
import { summarizeJobCoefficients } from "./_coefficient_summary.ts";
import { findJob, JobIdParam } from "./_job_lookup.ts";
import { intParam } from "./_int_param.ts";
import { CoefficientLayerSummarySchema } from "./_job_schemas.ts";
import { type AppDeps, BEARER_SECURITY, newRouter } from "./_router.ts";

const EpochHistory = z.object({
  epoch: z.int(),
  solved: z.int().openapi({
    description: "(batch, layer) entries solved in this epoch",
  }),
  layers: z.array(z.object({ layer: z.int(), solved: z.int() })),
}).openapi("CoefficientEpochHistory");

const Summary = z.object({
  kind: z.literal("summary"),
  layers: z.array(CoefficientLayerSummarySchema).openapi({
    description: "per layer, over the latest entry of each batch",
  }),
  history: z.array(EpochHistory).openapi({
    description:
      "entries solved per epoch: epoch one's inversion, then refreshes",
  }),
}).openapi("CoefficientSummary");

const Vector = z.object({
  kind: z.literal("vector"),
  batch: z.int(),
  layer: z.int(),
  epoch: z.int().openapi({ description: "the epoch that solved it" }),
  coefficients: z.array(z.number()),
}).openapi("CoefficientVector");

const coefficients = createRoute({
  method: "get",
  path: "/v1/jobs/{id}/coefficients",
  operationId: "getJobCoefficients",
  tags: ["results"],
  summary: "FNGD coefficients: per-layer summary, or one raw vector",
  description:
    '`kind` says which of the two answers it is. Without query parameters: `{kind: "summary", layers: [...], history: [...]}`; `layers` is shaped like the `coefficients` event, over the latest entry of each (batch, layer), and `history` counts the entries solved per epoch. With `batch` and `layer` (both): `{kind: "vector", ...}`, that batch\'s coefficient vector for that layer, the latest one, or that solved in `epoch`.',
  security: BEARER_SECURITY,
  request: {
    params: JobIdParam,
    query: z.object({
      batch: intParam("batch", 0).optional(),
      layer: intParam("layer", 0).optional(),
      epoch: intParam("epoch", 1).optional().openapi({
        description:
          "with batch and layer: the vector solved in this epoch (default: the latest)",
      }),
    })
      .refine((q) => (q.batch === undefined) === (q.layer === undefined), {
        error: "give batch and layer together, or neither",
        path: ["batch"],
      })
      .refine((q) => q.epoch === undefined || q.batch !== undefined, {
        error: "epoch needs batch and layer",
        path: ["epoch"],
      }),
  },
  responses: {
    200: {
      description: "the summary, or one vector",
      content: {
        "application/json": {
          schema: z.discriminatedUnion("kind", [Summary, Vector]).openapi(
            "Coefficients",
          ),
        },
      },
    },
    400: problemResponse(
      "only one of batch and layer given, or epoch without them",
    ),
    401: problemResponse("missing or invalid API key"),
    421: MISDIRECTED_RESPONSE,
    404: problemResponse(
      "no such job, or no vector for that batch, layer (and epoch)",
    ),
    503: DATABASE_UNAVAILABLE_RESPONSE,
  },
});

/** The coefficients route. */
export function coefficientRoutes({ db }: AppDeps) {
  return newRouter().openapi(coefficients, async (c) => {
    const job = await findJob(db, c.get("tenant"), c.req.valid("param").id);
    const { batch, layer, epoch } = c.req.valid("query");
    if (batch === undefined || layer === undefined) {
      const summary = await summarizeJobCoefficients(db, job);
      return c.json({
        kind: "summary" as const,
        layers: summary.layers,
        history: summary.history,
      }, 200);
    }
    const entry = await getCoefficientVector(db, job.id, batch, layer, epoch);
    if (!entry) {
      throw new ApiError(
        "coefficients_not_found",
        `job ${job.id} has no coefficients for batch ${batch}, layer ${layer}${
          epoch === undefined ? "" : `, epoch ${epoch}`
        }`,
      );
    }
    return c.json({
      kind: "vector" as const,
      batch,
      layer,
      epoch: entry.epoch,
      coefficients: Array.from(entry.coefficients),
    }, 200);
  });
}
