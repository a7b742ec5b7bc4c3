/**
 * Turns a job's dataset spec into data: synthetic (vectors, images or
 * translation pairs) and named datasets through resolveDataset, uploads
 * (`{"id"}`) from the blob store (or a legacy row's content column), decoded
 * the way routes/_dataset_content.ts stored them.
 */
import {
  type BlobStore,
  getDataset,
  type Queryable,
  readDatasetContent,
} from "../db/mod.ts";
import {
  idxToDataset,
  parallelTextDataset,
  parseCsvDataset,
  parseIdxSequence,
  parseParallelText,
} from "../src/engine/data/mod.ts";
import {
  type Dataset,
  type DatasetSpec,
  EngineError,
} from "../src/engine/mod.ts";
import { resolveDataset } from "./resolve_dataset.ts";

/**
 * Loads the dataset a job names, for `tenant` (uploads are per tenant).
 * @throws {EngineError} `data_not_found` or `invalid_data`.
 */
export async function loadJobDataset(
  db: Queryable,
  blobs: BlobStore,
  tenant: string,
  spec: DatasetSpec,
  dataDir: string | undefined,
): Promise<Dataset> {
  if (!("id" in spec)) {
    if ("format" in spec) {
      throw new EngineError(
        "invalid_spec",
        `dataset {"format": "${spec.format}"} reads local files, which only the CLI may do; upload it and use {"id": ...}`,
      );
    }
    return await resolveDataset(spec, { dataDir });
  }
  const row = await getDataset(db, tenant, spec.id, { withContent: true });
  if (!row) {
    throw new EngineError(
      "data_not_found",
      `dataset ${spec.id} not found for this tenant`,
    );
  }
  // The worker trains on the whole dataset, so it decodes it in memory.
  const content = await readDatasetContent(blobs, row);
  if (row.format === "parallel_text") {
    return parallelTextUploadToDataset(row.id, content);
  }
  return row.format === "csv"
    ? parseCsvDataset(new TextDecoder().decode(content), {
      labelColumn: "label",
      shape: row.shape,
    })
    : idxUploadToDataset(row.id, content);
}

/**
 * Rebuilds a parallel-text upload from its stored JSON (the texts and
 * options, routes/_dataset_content.ts): the same pairs, vocabulary and rows
 * the upload was validated with.
 */
function parallelTextUploadToDataset(id: string, content: Uint8Array): Dataset {
  let stored: Record<string, unknown>;
  try {
    stored = JSON.parse(new TextDecoder().decode(content));
  } catch (e) {
    throw new EngineError(
      "invalid_data",
      `stored parallel-text dataset ${id} is not JSON`,
      { cause: e },
    );
  }
  const { tokenizer, max_length, test_fraction, train, test } = stored;
  if (
    (tokenizer !== "char" && tokenizer !== "word") ||
    typeof max_length !== "number" || typeof train !== "string" ||
    !(test === undefined || typeof test === "string") ||
    !(test_fraction === undefined || typeof test_fraction === "number")
  ) {
    throw new EngineError(
      "invalid_data",
      `stored parallel-text dataset ${id} lacks tokenizer, max_length or train text`,
    );
  }
  const options = { tokenizer, maxLength: max_length } as const;
  return parallelTextDataset(
    parseParallelText(train, options),
    test === undefined ? undefined : parseParallelText(test, options),
    { ...options, testFraction: test_fraction },
  );
}

/** Splits the concatenated IDX files (images, labels[, test images, test labels]). */
function idxUploadToDataset(id: string, content: Uint8Array): Dataset {
  const files = parseIdxSequence(content);
  if (files.length !== 2 && files.length !== 4) {
    throw new EngineError(
      "invalid_data",
      `stored IDX dataset ${id} should hold 2 or 4 IDX files, found ${files.length}`,
    );
  }
  const [images, labels, testImages, testLabels] = files;
  return idxToDataset(images, labels, testImages, testLabels);
}
