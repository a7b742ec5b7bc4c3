/** Uploaded datasets, per tenant. */
import { and, desc, eq, getTableColumns } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { isUuid } from "./_uuid.ts";
import { type DatasetRow, datasets } from "./schema.ts";

/** A dataset without its content bytes. */
export type DatasetSummary = Omit<DatasetRow, "content">;

/** What {@link createDataset} stores. */
export type NewDataset = Omit<DatasetRow, "id" | "createdAt">;

const { content: _content, ...summaryColumns } = getTableColumns(datasets);

/** Stores an upload; returns it without the content. */
export async function createDataset(
  db: Queryable,
  dataset: NewDataset,
): Promise<DatasetSummary> {
  const [row] = await db.insert(datasets).values(dataset)
    .returning(summaryColumns);
  return row;
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

/** One of `tenant`'s datasets; content only when asked for. */
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
