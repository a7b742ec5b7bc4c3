/**
 * The trained model in TF.js layers format. model.json's manifest names
 * `weights.bin` relative to itself, so the two files load side by side
 * wherever they are saved:
 *
 * - GET /v1/jobs/{id}/model and /v1/jobs/{id}/model/model.json: model.json;
 * - GET /v1/jobs/{id}/model/weights.bin: the weights beside the second, and
 *   GET /v1/jobs/{id}/weights.bin beside the first (TF.js resolves the
 *   manifest against the URL's directory), so both URLs load with
 *   `tf.loadLayersModel(url, {requestInit: {headers}})`;
 * - GET /v1/jobs/{id}/model.tar.gz: both files in one archive.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import {
  bytesStream,
  getJobModel,
  type JobModelRow,
  openJobModelWeights,
  readBlob,
} from "../db/mod.ts";
import {
  ApiError,
  DATABASE_UNAVAILABLE_RESPONSE,
  MISDIRECTED_RESPONSE,
  problemResponse,
} from "./problem.ts";
import { findJob, JobIdParam } from "./_job_lookup.ts";
import { ModelJsonSchema } from "./_model_json.ts";
import { type AppDeps, BEARER_SECURITY, newRouter } from "./_router.ts";
import { tarGzStream } from "./_tar.ts";

const errors = {
  401: problemResponse("missing or invalid API key"),
  421: MISDIRECTED_RESPONSE,
  404: problemResponse("no such job for this tenant, or no model saved yet"),
  503: DATABASE_UNAVAILABLE_RESPONSE,
};

const LOAD_HINT =
  "Load it with tf.loadLayersModel(url, {requestInit: {headers: {authorization: 'Bearer <key>'}}}); the weights manifest names weights.bin, relative to model.json, so saved side by side the two files load too.";

const modelJsonContent = {
  "application/json": { schema: ModelJsonSchema },
};
const binary = z.string().openapi({ format: "binary" });
const weightsContent = { "application/octet-stream": { schema: binary } };

const modelJson = createRoute({
  method: "get",
  path: "/v1/jobs/{id}/model",
  operationId: "getJobModel",
  tags: ["results"],
  summary: "The trained model's model.json (TF.js layers format)",
  description:
    `Saved when training succeeds. ${LOAD_HINT} Over HTTP from this URL, the weights come from /v1/jobs/{id}/weights.bin.`,
  security: BEARER_SECURITY,
  request: { params: JobIdParam },
  responses: {
    200: { description: "model.json", content: modelJsonContent },
    ...errors,
  },
});

const modelDirJson = createRoute({
  method: "get",
  path: "/v1/jobs/{id}/model/model.json",
  operationId: "getJobModelFile",
  tags: ["results"],
  summary: "The trained model's model.json, beside model/weights.bin",
  description:
    `The same model.json as GET /v1/jobs/{id}/model, at a URL whose directory also holds weights.bin. ${LOAD_HINT}`,
  security: BEARER_SECURITY,
  request: { params: JobIdParam },
  responses: {
    200: { description: "model.json", content: modelJsonContent },
    ...errors,
  },
});

const weights = createRoute({
  method: "get",
  path: "/v1/jobs/{id}/model/weights.bin",
  operationId: "getJobModelWeights",
  tags: ["results"],
  summary: "The trained model's weights, as model.json's manifest describes",
  security: BEARER_SECURITY,
  request: { params: JobIdParam },
  responses: {
    200: {
      description: "the concatenated float32 weights",
      content: weightsContent,
    },
    ...errors,
  },
});

const siblingWeights = createRoute({
  method: "get",
  path: "/v1/jobs/{id}/weights.bin",
  operationId: "getJobModelWeightsBesideModel",
  tags: ["results"],
  summary: "The trained model's weights, beside GET /v1/jobs/{id}/model",
  description:
    "The same bytes as /v1/jobs/{id}/model/weights.bin, where tf.loadLayersModel looks when it loads /v1/jobs/{id}/model.",
  security: BEARER_SECURITY,
  request: { params: JobIdParam },
  responses: {
    200: {
      description: "the concatenated float32 weights",
      content: weightsContent,
    },
    ...errors,
  },
});

const archive = createRoute({
  method: "get",
  path: "/v1/jobs/{id}/model.tar.gz",
  operationId: "getJobModelArchive",
  tags: ["results"],
  summary: "The trained model as a .tar.gz of model.json and weights.bin",
  description:
    "Streamed. Unpacked, tf.loadLayersModel('file://<dir>/model.json') loads it.",
  security: BEARER_SECURITY,
  request: { params: JobIdParam },
  responses: {
    200: {
      description: "a gzipped ustar archive of model.json and weights.bin",
      content: { "application/gzip": { schema: binary } },
    },
    ...errors,
  },
});

/**
 * `json` with every manifest path reduced to its file name: the worker
 * writes `weights.bin`, and whatever an older writer put before a slash
 * would not exist beside model.json.
 */
export function portableModelJson(
  json: Record<string, unknown>,
): Record<string, unknown> {
  const manifest = (json.weightsManifest ?? []) as { paths: string[] }[];
  return {
    ...json,
    weightsManifest: manifest.map((group) => ({
      ...group,
      paths: group.paths.map((p) => p.split("/").at(-1)!),
    })),
  };
}

/** Response headers of a download saved as `filename`. */
export function downloadHeaders(
  type: string,
  filename: string,
  size?: number,
): Record<string, string> {
  const headers: Record<string, string> = {
    "content-type": type,
    "content-disposition": `attachment; filename="${filename}"`,
  };
  if (size !== undefined) headers["content-length"] = String(size);
  return headers;
}

/** The model routes. */
export function modelRoutes({ db, blobs }: AppDeps) {
  const load = async (c: Context) => {
    const id = c.req.param("id") ?? "";
    const job = await findJob(db, c.get("tenant"), id);
    const model = await getJobModel(db, job.id);
    if (!model) {
      throw new ApiError(
        "model_not_found",
        `job ${job.id} has no saved model (status ${job.status}); models are saved when training succeeds`,
      );
    }
    return model;
  };
  const sizeOf = (model: JobModelRow) =>
    model.weightsSize ?? model.weightData?.length;
  const serveJson = async (c: Context) =>
    c.json(portableModelJson((await load(c)).modelJson), 200);
  const serveWeights = async (c: Context) => {
    const model = await load(c);
    return c.body(
      await openJobModelWeights(blobs, model),
      200,
      downloadHeaders("application/octet-stream", "weights.bin", sizeOf(model)),
    );
  };
  return newRouter()
    .openapi(modelJson, serveJson)
    .openapi(modelDirJson, serveJson)
    .openapi(weights, serveWeights)
    .openapi(siblingWeights, serveWeights)
    .openapi(archive, async (c) => {
      const model = await load(c);
      const json = new TextEncoder().encode(
        JSON.stringify(portableModelJson(model.modelJson)),
      );
      let size = sizeOf(model);
      // A blob row without its size (none is written so): read it to know.
      let preread: Uint8Array | undefined;
      if (size === undefined && model.weightsSha256) {
        preread = await readBlob(blobs, model.weightsSha256);
        size = preread.length;
      }
      const body = tarGzStream([
        {
          name: "model.json",
          size: json.length,
          open: () => bytesStream(json),
        },
        {
          name: "weights.bin",
          size: size!,
          open: () =>
            preread ? bytesStream(preread) : openJobModelWeights(blobs, model),
        },
      ]);
      return c.body(
        body,
        200,
        downloadHeaders("application/gzip", `model-${model.jobId}.tar.gz`),
      );
    });
}
