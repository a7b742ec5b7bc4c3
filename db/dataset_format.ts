/** Upload formats of the datasets table, defined once for drizzle and zod. */

/** Formats an uploaded dataset may have. */
export const DATASET_FORMATS = ["idx", "csv", "parallel_text"] as const;

/** One dataset format. */
export type DatasetFormat = (typeof DATASET_FORMATS)[number];
