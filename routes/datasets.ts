/**
 * /v1/datasets: upload IDX, CSV or parallel-text training data, list and read
 * datasets. Uploads stream: the multipart body is spooled to scratch files,
 * then each file is checked as it streams into the blob store, and the row
 * is written only once the content is whole and valid.
 */
import { createRoute, z } from "@hono/zod-openapi";
import {
  createDataset,
  DATASET_FORMATS,
  type DatasetRow,
  getDataset,
  listDatasets,
} from "../db/mod.ts";
import {
  ApiError,
  DATABASE_UNAVAILABLE_RESPONSE,
  fieldErrors,
  FORBIDDEN_ORIGIN_RESPONSE,
  MISDIRECTED_RESPONSE,
  problemResponse,
  validationError,
} from "./problem.ts";
import type { EncodedDataset } from "./_dataset_content.ts";
import { encodeCsv } from "./_csv_upload.ts";
import { encodeIdx } from "./_idx_upload.ts";
import { readMultipart, type SpooledFile } from "./_multipart.ts";
import { encodeParallelText } from "./_parallel_text_upload.ts";
import {
  MAX_SEQUENCE_LENGTH,
  MAX_TEST_FRACTION,
  PAIR_OVERHEAD,
  TOKENIZERS,
} from "../src/engine/data/mod.ts";
import { type AppDeps, BEARER_SECURITY, newRouter } from "./_router.ts";

/** A dataset as the API returns it (never its content). */
export const DatasetSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  format: z.enum(DATASET_FORMATS),
  shape: z.array(z.int()).openapi({
    description: "shape of one sample; `[max_length]` for parallel text",
    example: [28, 28, 1],
  }),
  bytes: z.int().openapi({ description: "size of the stored content" }),
  sha256: z.string().openapi({
    description: "hex SHA-256 of the stored content",
  }),
  created_at: z.string().openapi({ format: "date-time" }),
}).openapi("Dataset");

/** Row -> JSON; takes only the listed fields, so content can never leak. */
export function shapeDataset(
  row: Omit<DatasetRow, "content" | "tenant">,
): z.infer<typeof DatasetSchema> {
  return {
    id: row.id,
    name: row.name,
    format: row.format,
    shape: row.shape,
    bytes: row.bytes,
    sha256: row.sha256,
    created_at: row.createdAt.toISOString(),
  };
}

const file = z.instanceof(File).openapi({ type: "string", format: "binary" });

/** Fields that belong to one format only. */
const FORMAT_FIELDS = {
  idx: ["images", "labels", "test_images", "test_labels"],
  csv: ["shape"],
  parallel_text: ["test_file", "tokenizer", "max_length", "test_fraction"],
} as const;

const UploadForm = z.object({
  name: z.string().trim().min(1).max(200),
  format: z.enum(DATASET_FORMATS),
  images: file.optional().openapi({ description: "idx: training images" }),
  labels: file.optional().openapi({ description: "idx: training labels" }),
  test_images: file.optional().openapi({ description: "idx: test images" }),
  test_labels: file.optional().openapi({ description: "idx: test labels" }),
  file: file.optional().openapi({
    description:
      "csv: the CSV file; parallel_text: UTF-8 `source<TAB>target` lines",
  }),
  label_column: z.string().min(1).max(200).default("label").openapi({
    description: "csv: header name of the label column",
  }),
  shape: z.string().regex(/^\d+(,\d+){0,2}$/, {
    error:
      "shape must be 1 to 3 comma-separated positive integers, e.g. 28,28,1",
  }).optional().openapi({ description: "csv: sample shape, e.g. 28,28,1" }),
  test_file: file.optional().openapi({
    description: "parallel_text: test pairs, as `file`",
  }),
  tokenizer: z.enum(TOKENIZERS).optional().openapi({
    description:
      "parallel_text: `char` (Unicode characters, the default) or `word` (whitespace-separated)",
  }),
  max_length: z.coerce.number().int().min(PAIR_OVERHEAD + 2).max(
    MAX_SEQUENCE_LENGTH,
  ).optional().openapi({
    description:
      "parallel_text: tokens per row (BEGIN source SEP target END, padded); default the longest pair's",
  }),
  test_fraction: z.coerce.number().gt(0).max(MAX_TEST_FRACTION).optional()
    .openapi({
      description:
        "parallel_text: hold out this fraction of `file`'s lines as the test split",
    }),
}).superRefine((f, ctx) => {
  const need = f.format === "idx" ? ["images", "labels"] : ["file"];
  const forbid = [
    ...(f.format === "idx" ? ["file"] : []),
    ...Object.entries(FORMAT_FIELDS).flatMap(([format, keys]) =>
      format === f.format ? [] : keys
    ),
  ];
  if (f.test_file !== undefined && f.test_fraction !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["test_fraction"],
      message: "give either test_file or test_fraction, not both",
    });
  }
  for (const key of need) {
    if (f[key as keyof typeof f] === undefined) {
      ctx.addIssue({
        code: "custom",
        path: [key],
        message: `format ${f.format} needs a ${key} file`,
      });
    }
  }
  for (const key of forbid) {
    if (f[key as keyof typeof f] !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: [key],
        message: `${key} does not belong to format ${f.format}`,
      });
    }
  }
  if ((f.test_images === undefined) !== (f.test_labels === undefined)) {
    ctx.addIssue({
      code: "custom",
      path: [f.test_images ? "test_labels" : "test_images"],
      message: "test_images and test_labels come together",
    });
  }
}).openapi("DatasetUpload");

const datasetJson = { "application/json": { schema: DatasetSchema } };
const unauthorized = problemResponse("missing or invalid API key");

const upload = createRoute({
  method: "post",
  path: "/v1/datasets",
  operationId: "uploadDataset",
  tags: ["datasets"],
  summary: "Upload a dataset (IDX images + labels, CSV, or parallel text)",
  description:
    "multipart/form-data. IDX: `format=idx`, files `images` and `labels` (gzipped or raw), optionally `test_images` and `test_labels`. CSV: `format=csv`, file `file` with a header row, `label_column` (default `label`), optional `shape`. Parallel text: `format=parallel_text`, file `file` of UTF-8 `source<TAB>target` lines, optionally `test_file` or `test_fraction`, `tokenizer` (`char` or `word`) and `max_length`; `shape` is `[max_length]` and `classes` the vocabulary size (built from the training pairs). The files are checked as they stream into storage, and nothing is stored unless all of them are valid; a parse error names the field and line. Gzipped IDX may inflate to 4 x MAX_UPLOAD_BYTES in all, within 60 s.",
  security: BEARER_SECURITY,
  request: {
    body: {
      required: true,
      content: { "multipart/form-data": { schema: UploadForm } },
    },
  },
  responses: {
    201: {
      description: "stored",
      content: {
        "application/json": {
          schema: DatasetSchema.extend({
            samples: z.int().openapi({
              description: "training samples (pairs, for parallel text)",
            }),
            classes: z.int().openapi({
              description:
                "classes; for parallel text the vocabulary size, reserved tokens included",
            }),
          }).openapi("DatasetCreated"),
        },
      },
    },
    400: problemResponse("missing fields, or files that do not parse"),
    401: unauthorized,
    403: FORBIDDEN_ORIGIN_RESPONSE,
    421: MISDIRECTED_RESPONSE,
    413: problemResponse("upload larger than MAX_UPLOAD_BYTES"),
    415: problemResponse("body is not multipart/form-data"),
    503: DATABASE_UNAVAILABLE_RESPONSE,
  },
});

const list = createRoute({
  method: "get",
  path: "/v1/datasets",
  operationId: "listDatasets",
  tags: ["datasets"],
  summary: "List datasets, newest first",
  security: BEARER_SECURITY,
  responses: {
    200: {
      description: "the tenant's datasets",
      content: {
        "application/json": {
          schema: z.object({ data: z.array(DatasetSchema) }).openapi(
            "DatasetList",
          ),
        },
      },
    },
    401: unauthorized,
    421: MISDIRECTED_RESPONSE,
    503: DATABASE_UNAVAILABLE_RESPONSE,
  },
});

const get = createRoute({
  method: "get",
  path: "/v1/datasets/{id}",
  operationId: "getDataset",
  tags: ["datasets"],
  summary: "One dataset",
  security: BEARER_SECURITY,
  request: {
    params: z.object({
      id: z.string().max(200).openapi({ param: { name: "id", in: "path" } }),
    }),
  },
  responses: {
    200: { description: "the dataset", content: datasetJson },
    401: unauthorized,
    421: MISDIRECTED_RESPONSE,
    404: problemResponse("no such dataset for this tenant"),
    503: DATABASE_UNAVAILABLE_RESPONSE,
  },
});

/** The form fields that carry files. */
const FILE_FIELDS = new Set([
  "images",
  "labels",
  "test_images",
  "test_labels",
  "file",
  "test_file",
]);

/**
 * Gzipped IDX inflates to at most this many times MAX_UPLOAD_BYTES, all
 * files together, and within this long.
 */
const INFLATE_FACTOR = 4;
const DECODE_TIME_LIMIT_MS = 60_000;

/**
 * The form as the UploadForm schema sees it: text fields as strings, file
 * parts as empty File stand-ins (the schema only checks that they are files;
 * their bytes stay on disk).
 */
function formObject(
  fields: Map<string, string>,
  files: Map<string, SpooledFile>,
): Record<string, unknown> {
  const out: Record<string, unknown> = Object.fromEntries(fields);
  for (const [name, file] of files) out[name] = new File([], file.filename);
  return out;
}

/** The /v1/datasets routes. */
export function datasetRoutes({ db, blobs, options }: AppDeps) {
  const router = newRouter();
  // Documented like every route, but served without the generated form
  // validator, which would read the whole body into memory.
  router.openAPIRegistry.registerPath(upload);
  router.post(upload.path, async (c) => {
    const scratch = await Deno.makeTempDir({ prefix: "fngd_upload_" });
    try {
      const { fields, files } = await readMultipart(c.req.raw, {
        maxBytes: options.maxUploadBytes,
        dir: scratch,
        fileFields: FILE_FIELDS,
      });
      const parsed = UploadForm.safeParse(formObject(fields, files));
      if (!parsed.success) {
        throw validationError(fieldErrors(parsed.error.issues, "form"));
      }
      const form = parsed.data;
      const file = (name: string) => files.get(name);
      let encoded: EncodedDataset;
      if (form.format === "idx") {
        encoded = await encodeIdx(
          {
            images: file("images")!,
            labels: file("labels")!,
            testImages: file("test_images"),
            testLabels: file("test_labels"),
          },
          blobs,
          {
            maxBytes: INFLATE_FACTOR * options.maxUploadBytes,
            deadline: Date.now() + DECODE_TIME_LIMIT_MS,
          },
        );
      } else if (form.format === "csv") {
        encoded = await encodeCsv(
          file("file")!,
          form.label_column,
          form.shape?.split(",").map(Number),
          blobs,
        );
      } else {
        encoded = await encodeParallelText({
          file: file("file")!,
          testFile: file("test_file"),
          tokenizer: form.tokenizer ?? "char",
          maxLength: form.max_length,
          testFraction: form.test_fraction,
        }, blobs);
      }
      const row = await createDataset(db, blobs, {
        tenant: c.get("tenant"),
        name: form.name,
        format: form.format,
        shape: encoded.shape,
      }, encoded.content);
      return c.json({
        ...shapeDataset(row),
        samples: encoded.samples,
        classes: encoded.classes,
      }, 201);
    } finally {
      await Deno.remove(scratch, { recursive: true }).catch(() => {});
    }
  });
  return router
    .openapi(list, async (c) => {
      const rows = await listDatasets(db, c.get("tenant"));
      return c.json({ data: rows.map(shapeDataset) }, 200);
    })
    .openapi(get, async (c) => {
      const { id } = c.req.valid("param");
      const row = await getDataset(db, c.get("tenant"), id);
      if (!row) {
        throw new ApiError(
          "dataset_not_found",
          `no dataset ${id} for this tenant`,
        );
      }
      return c.json(shapeDataset(row), 200);
    });
}
