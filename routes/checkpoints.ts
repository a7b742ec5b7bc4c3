/**
 * A job's kept epoch checkpoints (CHECKPOINTS_KEPT, newest first) and the
 * model at each, in the same portable TF.js layout as the final model
 * (routes/model.ts):
 *
 * - GET /v1/jobs/{id}/checkpoints: the list;
 * - GET /v1/jobs/{id}/checkpoints/{epoch}/model.json and .../weights.bin,
 *   side by side, so the first loads with tf.loadLayersModel over HTTP and
 *   from disk;
 * - GET /v1/jobs/{id}/checkpoints/{epoch}/model.tar.gz: both in one archive.
 *
 * The worker exports each checkpoint's model as it saves it: model.json's
 * topology comes from TF.js layers' own configs, which the API could only
 * get by building the model.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bytesStream, getCheckpoint, listCheckpoints } from "../db/mod.ts";
import { intParam } from "./_int_param.ts";
import { findJob, JobIdParam } from "./_job_lookup.ts";
import { ModelJsonSchema } from "./_model_json.ts";
import { type AppDeps, BEARER_SECURITY, newRouter } from "./_router.ts";
import { tarGzStream } from "./_tar.ts";
import { downloadHeaders, portableModelJson } from "./model.ts";
import {
  ApiError,
  DATABASE_UNAVAILABLE_RESPONSE,
  MISDIRECTED_RESPONSE,
  problemResponse,
} from "./problem.ts";

const listErrors = {
  401: problemResponse("missing or invalid API key"),
  421: MISDIRECTED_RESPONSE,
  404: problemResponse("no such job for this tenant"),
  503: DATABASE_UNAVAILABLE_RESPONSE,
};

const fileErrors = {
  400: problemResponse("epoch is not a positive integer"),
  401: problemResponse("missing or invalid API key"),
  421: MISDIRECTED_RESPONSE,
  404: problemResponse(
    "no such job for this tenant, or no kept checkpoint of that epoch with a model",
  ),
  503: DATABASE_UNAVAILABLE_RESPONSE,
};

const CheckpointParams = JobIdParam.extend({
  epoch: intParam("epoch", 1).openapi({
    param: { name: "epoch", in: "path" },
    example: 3,
  }),
});

const CheckpointSchema = z.object({
  epoch: z.number().int().openapi({
    description: "The epoch it was saved after (1-based).",
  }),
  step: z.number().int().nullable().openapi({
    description:
      "Optimizer steps taken up to it; null for checkpoints saved before steps were recorded.",
  }),
  created_at: z.string().openapi({ format: "date-time" }),
  size: z.number().int().nullable().openapi({
    description:
      "Bytes of its weights.bin; null when no model was exported with it.",
  }),
  sha256: z.string().nullable().openapi({
    description:
      "SHA-256 (hex) of its weights.bin; null when no model was exported with it.",
  }),
  metrics: z.object({
    train_loss: z.number().nullable(),
    val_loss: z.number().nullable(),
    val_accuracy: z.number().nullable(),
  }).openapi({
    description:
      "That epoch's metrics, as GET /v1/jobs/{id}/metrics gives them; null where not recorded.",
  }),
}).openapi("Checkpoint");

const CheckpointListSchema = z.object({
  data: z.array(CheckpointSchema),
}).openapi("CheckpointList");

const binary = z.string().openapi({ format: "binary" });

const list = createRoute({
  method: "get",
  path: "/v1/jobs/{id}/checkpoints",
  operationId: "listJobCheckpoints",
  tags: ["results"],
  summary: "The job's kept epoch checkpoints, newest first",
  description:
    "Workers keep the newest CHECKPOINTS_KEPT (default 3) epoch checkpoints of a job; older ones are deleted. Each one's model downloads from /v1/jobs/{id}/checkpoints/{epoch}/model.json, weights.bin and model.tar.gz.",
  security: BEARER_SECURITY,
  request: { params: JobIdParam },
  responses: {
    200: {
      description: "the kept checkpoints",
      content: { "application/json": { schema: CheckpointListSchema } },
    },
    ...listErrors,
  },
});

const LOAD_HINT =
  "Its weights manifest names weights.bin relative to model.json, so tf.loadLayersModel loads it from this URL (with {requestInit: {headers: {authorization: 'Bearer <key>'}}}) or from disk with weights.bin saved beside it.";

const modelJson = createRoute({
  method: "get",
  path: "/v1/jobs/{id}/checkpoints/{epoch}/model.json",
  operationId: "getJobCheckpointModel",
  tags: ["results"],
  summary: "The model at a kept checkpoint: model.json (TF.js layers format)",
  description: LOAD_HINT,
  security: BEARER_SECURITY,
  request: { params: CheckpointParams },
  responses: {
    200: {
      description: "model.json",
      content: { "application/json": { schema: ModelJsonSchema } },
    },
    ...fileErrors,
  },
});

const weights = createRoute({
  method: "get",
  path: "/v1/jobs/{id}/checkpoints/{epoch}/weights.bin",
  operationId: "getJobCheckpointWeights",
  tags: ["results"],
  summary: "The model at a kept checkpoint: weights.bin, beside its model.json",
  security: BEARER_SECURITY,
  request: { params: CheckpointParams },
  responses: {
    200: {
      description: "the concatenated float32 weights",
      content: { "application/octet-stream": { schema: binary } },
    },
    ...fileErrors,
  },
});

const archive = createRoute({
  method: "get",
  path: "/v1/jobs/{id}/checkpoints/{epoch}/model.tar.gz",
  operationId: "getJobCheckpointArchive",
  tags: ["results"],
  summary:
    "The model at a kept checkpoint as a .tar.gz of model.json and weights.bin",
  description:
    "Streamed. Unpacked, tf.loadLayersModel('file://<dir>/model.json') loads it.",
  security: BEARER_SECURITY,
  request: { params: CheckpointParams },
  responses: {
    200: {
      description: "a gzipped ustar archive of model.json and weights.bin",
      content: { "application/gzip": { schema: binary } },
    },
    ...fileErrors,
  },
});

/** The checkpoint routes. */
export function checkpointRoutes({ db, blobs }: AppDeps) {
  /** The tenant's kept checkpoint with its exported model, or a 404. */
  const load = async (c: Context, id: string, epoch: number) => {
    const job = await findJob(db, c.get("tenant"), id);
    const row = await getCheckpoint(db, job.id, epoch);
    if (!row?.modelJson || !row.modelWeightsSha256) {
      throw new ApiError(
        "checkpoint_not_found",
        row
          ? `the checkpoint of job ${job.id} after epoch ${epoch} has no exported model`
          : `job ${job.id} has no kept checkpoint after epoch ${epoch}`,
      );
    }
    return {
      jobId: job.id,
      epoch,
      modelJson: portableModelJson(row.modelJson),
      sha256: row.modelWeightsSha256,
      size: row.modelWeightsSize ?? undefined,
    };
  };
  /** The model's weights.bin; a checkpoint pruned since it was read is a 404. */
  const open = async (cp: { jobId: string; epoch: number; sha256: string }) => {
    try {
      return await blobs.get(cp.sha256);
    } catch (err) {
      throw new ApiError(
        "checkpoint_not_found",
        `the checkpoint of job ${cp.jobId} after epoch ${cp.epoch} was just deleted`,
        { cause: err },
      );
    }
  };
  return newRouter()
    .openapi(list, async (c) => {
      const job = await findJob(db, c.get("tenant"), c.req.valid("param").id);
      const rows = await listCheckpoints(db, job.id);
      return c.json({
        data: rows.map((r) => ({
          epoch: r.epoch,
          step: r.step,
          created_at: r.createdAt.toISOString(),
          size: r.modelWeightsSha256 ? r.modelWeightsSize : null,
          sha256: r.modelWeightsSha256,
          metrics: {
            train_loss: r.trainLoss,
            val_loss: r.valLoss,
            val_accuracy: r.valAccuracy,
          },
        })),
      }, 200);
    })
    .openapi(modelJson, async (c) => {
      const { id, epoch } = c.req.valid("param");
      return c.json((await load(c, id, epoch)).modelJson, 200);
    })
    .openapi(weights, async (c) => {
      const { id, epoch } = c.req.valid("param");
      const cp = await load(c, id, epoch);
      return c.body(
        await open(cp),
        200,
        downloadHeaders("application/octet-stream", "weights.bin", cp.size),
      );
    })
    .openapi(archive, async (c) => {
      const { id, epoch } = c.req.valid("param");
      const cp = await load(c, id, epoch);
      const json = new TextEncoder().encode(JSON.stringify(cp.modelJson));
      // Rows always record the size; a missing one would be a bug upstream.
      if (cp.size === undefined) {
        throw new Error("checkpoint model size unknown");
      }
      // Opened before the response starts, so a pruned blob is still a 404.
      const stream = await open(cp);
      const body = tarGzStream([
        {
          name: "model.json",
          size: json.length,
          open: () => bytesStream(json),
        },
        { name: "weights.bin", size: cp.size, open: () => stream },
      ]);
      return c.body(
        body,
        200,
        downloadHeaders(
          "application/gzip",
          `model-${cp.jobId}-epoch-${cp.epoch}.tar.gz`,
        ),
      );
    });
}
