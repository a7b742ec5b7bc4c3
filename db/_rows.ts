/**
 * Maps rows of raw SQL (multi-statement CTEs that drizzle's builder cannot
 * express) to the row types drizzle infers, through drizzle's own column
 * decoders, so a raw statement returns exactly what a builder query would.
 */
import { getTableColumns, type Table } from "drizzle-orm";

/** `raw` (snake_case columns as the driver returns them) as `table`'s row type. */
export function mapRow<T extends Table>(
  table: T,
  raw: Record<string, unknown>,
): T["$inferSelect"] {
  const row: Record<string, unknown> = {};
  for (const [key, column] of Object.entries(getTableColumns(table))) {
    const value = raw[column.name];
    row[key] = value === null || value === undefined
      ? null
      : column.mapFromDriverValue(value);
  }
  return row as T["$inferSelect"];
}

/** JSON for a `::jsonb` parameter. */
export function jsonParam(value: unknown): string {
  return JSON.stringify(value);
}
