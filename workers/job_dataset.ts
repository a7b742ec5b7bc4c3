/**
 * Turns a job's dataset spec into data: synthetic and named datasets through
 * resolveDataset, uploads (`{"id"}`) from the datasets table, decoded the way
 * routes/_dataset_content.ts stored them.
 */
import { type DatasetRow, getDataset, type Queryable } from "../db/mod.ts";
import {
  idxToDataset,
  parseCsvDataset,
  parseIdx,
} from "../src/engine/data/mod.ts";
import type { IdxArray } from "../src/engine/data/mod.ts";
import {
  type Dataset,
  type DatasetSpec,
  EngineError,
} from "../src/engine/mod.ts";
import { resolveDataset } from "../src/datasets.ts";

/** Bytes per element of each IDX type code. */
const IDX_ELEMENT_SIZE: Record<number, number> = {
  0x08: 1,
  0x09: 1,
  0x0b: 2,
  0x0c: 4,
  0x0d: 4,
  0x0e: 8,
};

/**
 * Loads the dataset a job names, for `tenant` (uploads are per tenant).
 * @throws {EngineError} `data_not_found` or `invalid_data`.
 */
export async function loadJobDataset(
  db: Queryable,
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
  return row.format === "csv"
    ? parseCsvDataset(new TextDecoder().decode(row.content), {
      labelColumn: "label",
      shape: row.shape,
    })
    : await idxUploadToDataset(row);
}

/** Splits the concatenated IDX files (images, labels[, test images, test labels]). */
async function idxUploadToDataset(row: DatasetRow): Promise<Dataset> {
  const files: IdxArray[] = [];
  const bytes = row.content;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < 4) break;
    const size = IDX_ELEMENT_SIZE[bytes[at + 2]];
    const ndims = bytes[at + 3];
    if (!size || at + 4 + 4 * ndims > bytes.length) break;
    let count = 1;
    for (let d = 0; d < ndims; d++) count *= view.getUint32(at + 4 + 4 * d);
    const end = at + 4 + 4 * ndims + count * size;
    if (end > bytes.length) break;
    files.push(await parseIdx(bytes.subarray(at, end)));
    at = end;
  }
  if (at !== bytes.length || (files.length !== 2 && files.length !== 4)) {
    throw new EngineError(
      "invalid_data",
      `stored IDX dataset ${row.id} should hold 2 or 4 IDX files, found ${files.length} and ${
        bytes.length - at
      } stray bytes`,
    );
  }
  const [images, labels, testImages, testLabels] = files;
  return idxToDataset(images, labels, testImages, testLabels);
}
