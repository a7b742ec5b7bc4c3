/**
 * GET /v1/jobs/{id}/model (model.json) and GET /v1/jobs/{id}/model/weights.bin:
 * the trained model in TF.js layers format, so that
 * `tf.loadLayersModel(".../v1/jobs/{id}/model", {requestInit: {headers}})` works.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { getJobModel } from "../db/mod.ts";
import {
  ApiError,
  DATABASE_UNAVAILABLE_RESPONSE,
  MISDIRECTED_RESPONSE,
  problemResponse,
} from "./problem.ts";
import { findJob, JobIdParam } from "./_job_lookup.ts";
import { type AppDeps, BEARER_SECURITY, newRouter } from "./_router.ts";

/**
 * TF.js fetches weights relative to the model URL's directory, which for
 * `/v1/jobs/{id}/model` is `/v1/jobs/{id}/`; the stored manifest names plain
 * `weights.bin`, so it is served as `model/weights.bin`.
 */
const WEIGHTS_PATH = "model/weights.bin";

const errors = {
  401: problemResponse("missing or invalid API key"),
  421: MISDIRECTED_RESPONSE,
  404: problemResponse("no such job for this tenant, or no model saved yet"),
  503: DATABASE_UNAVAILABLE_RESPONSE,
};

const modelJson = createRoute({
  method: "get",
  path: "/v1/jobs/{id}/model",
  summary: "The trained model's model.json (TF.js layers format)",
  description:
    "Saved when training succeeds. Load it with tf.loadLayersModel(url, {requestInit: {headers: {authorization: 'Bearer <key>'}}}); the weights manifest points at model/weights.bin.",
  security: BEARER_SECURITY,
  request: { params: JobIdParam },
  responses: {
    200: {
      description: "model.json",
      content: {
        "application/json": { schema: z.record(z.string(), z.unknown()) },
      },
    },
    ...errors,
  },
});

const weights = createRoute({
  method: "get",
  path: "/v1/jobs/{id}/model/weights.bin",
  summary: "The trained model's weights, as model.json's manifest describes",
  security: BEARER_SECURITY,
  request: { params: JobIdParam },
  responses: {
    200: {
      description: "the concatenated float32 weights",
      content: {
        "application/octet-stream": {
          schema: z.string().openapi({ format: "binary" }),
        },
      },
    },
    ...errors,
  },
});

/** The model routes. */
export function modelRoutes({ db }: AppDeps) {
  const load = async (tenant: string, id: string) => {
    const job = await findJob(db, tenant, id);
    const model = await getJobModel(db, job.id);
    if (!model) {
      throw new ApiError(
        "model_not_found",
        `job ${job.id} has no saved model (status ${job.status}); models are saved when training succeeds`,
      );
    }
    return model;
  };
  return newRouter()
    .openapi(modelJson, async (c) => {
      const model = await load(c.get("tenant"), c.req.valid("param").id);
      const manifest = (model.modelJson.weightsManifest ?? []) as {
        paths: string[];
      }[];
      return c.json({
        ...model.modelJson,
        weightsManifest: manifest.map((group) => ({
          ...group,
          paths: group.paths.map((p) => p === "weights.bin" ? WEIGHTS_PATH : p),
        })),
      }, 200);
    })
    .openapi(weights, async (c) => {
      const model = await load(c.get("tenant"), c.req.valid("param").id);
      return c.body(model.weightData as Uint8Array<ArrayBuffer>, 200, {
        "content-type": "application/octet-stream",
      });
    });
}
