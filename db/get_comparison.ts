/** Reads one comparison of one tenant. */
import { and, eq } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { isUuid } from "./_uuid.ts";
import { type ComparisonRow, comparisons } from "./schema.ts";

/** The comparison `id` of `tenant`; undefined for unknown, foreign or malformed ids. */
export async function getComparison(
  db: Queryable,
  tenant: string,
  id: string,
): Promise<ComparisonRow | undefined> {
  if (!isUuid(id)) return undefined;
  const [row] = await db.select().from(comparisons)
    .where(and(eq(comparisons.id, id), eq(comparisons.tenant, tenant)));
  return row;
}
