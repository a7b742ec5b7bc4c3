/**
 * Uploaded datasets, per tenant. The content is a blob (`blob_sha256`);
 * rows from before the blob store hold it in `content`, read the same way.
 */
import { and, desc, eq, getTableColumns } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { isUuid } from "./_uuid.ts";
import { commitBlobs } from "./blob_refs.ts";
import {
  type BlobStore,
  bytesStream,
  readBlob,
  type StagedBlob,
} from "./blob_store.ts";
import { type DatasetRow, datasets } from "./schema.ts";

/** A dataset without its legacy content bytes. */
export type DatasetSummary = Omit<DatasetRow, "content">;

/** What {@link createDataset} stores besides the content. */
export type NewDataset = Pick<
  DatasetRow,
  "tenant" | "name" | "format" | "shape"
>;

const { content: _content, ...summaryColumns } = getTableColumns(datasets);

/**
 * Commits `content` (staged in `store`) and the row naming it; `sha256` and
 * `bytes` are the content's. Returns the row without content.
 * @throws {RangeError} when the content does not fit the `bytes` column.
 */
export async function createDataset(
  db: Queryable,
  store: BlobStore,
  dataset: NewDataset,
  content: StagedBlob,
): Promise<DatasetSummary> {
  if (content.size > 2 ** 31 - 1) {
    await content.discard();
    throw new RangeError(`dataset content of ${content.size} bytes is too big`);
  }
  let row: DatasetSummary | undefined;
  await commitBlobs(db, store, [content], async () => {
    // The pin becomes the row's reference.
    [row] = await db.insert(datasets).values({
      ...dataset,
      bytes: content.size,
      sha256: content.sha256,
      blobSha256: content.sha256,
    }).returning(summaryColumns);
    return { saved: true, collectable: [] };
  });
  return row!;
}

/** `tenant`'s datasets, newest first, without content. */
export async function listDatasets(
  db: Queryable,
  tenant: string,
): Promise<DatasetSummary[]> {
  return await db.select(summaryColumns).from(datasets)
    .where(eq(datasets.tenant, tenant))
    .orderBy(desc(datasets.createdAt), desc(datasets.id));
}

/** One of `tenant`'s datasets; the legacy content column only when asked for. */
export async function getDataset(
  db: Queryable,
  tenant: string,
  id: string,
  opts: { withContent: true },
): Promise<DatasetRow | undefined>;
/** One of `tenant`'s datasets, without content. */
export async function getDataset(
  db: Queryable,
  tenant: string,
  id: string,
  opts?: { withContent?: boolean },
): Promise<DatasetSummary | undefined>;
export async function getDataset(
  db: Queryable,
  tenant: string,
  id: string,
  opts: { withContent?: boolean } = {},
): Promise<DatasetSummary | DatasetRow | undefined> {
  if (!isUuid(id)) return undefined;
  const where = and(eq(datasets.id, id), eq(datasets.tenant, tenant));
  const [row] = opts.withContent
    ? await db.select().from(datasets).where(where)
    : await db.select(summaryColumns).from(datasets).where(where);
  return row;
}

/**
 * A dataset's stored content as a stream: its blob, or a legacy row's column
 * (which must then have been read, `withContent`).
 * @throws {BlobNotFoundError} when the row's blob is missing.
 */
export async function openDatasetContent(
  store: BlobStore,
  row: DatasetSummary & { content?: Uint8Array | null },
): Promise<ReadableStream<Uint8Array>> {
  return row.blobSha256
    ? await store.get(row.blobSha256)
    : bytesStream(legacyContent(row));
}

/** {@link openDatasetContent} read whole (the worker decodes in memory). */
export async function readDatasetContent(
  store: BlobStore,
  row: DatasetSummary & { content?: Uint8Array | null },
): Promise<Uint8Array> {
  return row.blobSha256
    ? await readBlob(store, row.blobSha256, row.bytes)
    : legacyContent(row);
}

function legacyContent(
  row: DatasetSummary & { content?: Uint8Array | null },
): Uint8Array {
  if (!row.content) {
    throw new RangeError(`dataset ${row.id} was read without its content`);
  }
  return row.content;
}
