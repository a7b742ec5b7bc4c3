/** Finds the comparison an Idempotency-Key already created, before admission checks. */
import { and, eq } from "drizzle-orm";
import type { Queryable } from "./client.ts";
import { type ComparisonRow, comparisons } from "./schema.ts";

/**
 * The comparison `tenant` created with `key`, if any: a retry must get it
 * back even when a new submission would now be refused (quota, size limit).
 */
export async function getComparisonByIdempotencyKey(
  db: Queryable,
  tenant: string,
  key: string,
): Promise<ComparisonRow | undefined> {
  const [row] = await db.select().from(comparisons)
    .where(
      and(eq(comparisons.tenant, tenant), eq(comparisons.idempotencyKey, key)),
    );
  return row;
}
