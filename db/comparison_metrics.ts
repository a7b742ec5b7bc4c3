/**
 * The epoch metrics a comparison can rank by, defined once for the schema,
 * the API's zod enum and the table: each names its epoch_metrics field and
 * whether higher or lower is better.
 */
import type { EpochMetricRow } from "./schema.ts";

/** Metric name -> the epoch_metrics field holding it and the better direction. */
export const COMPARISON_METRICS = {
  val_accuracy: { field: "valAccuracy", better: "higher" },
  val_exact_match: { field: "valExactMatch", better: "higher" },
  val_bleu: { field: "valBleu", better: "higher" },
  val_loss: { field: "valLoss", better: "lower" },
  val_reconstruction_error: {
    field: "valReconstructionError",
    better: "lower",
  },
} as const satisfies Record<
  string,
  { field: keyof EpochMetricRow; better: "higher" | "lower" }
>;

/** A metric a comparison can rank by. */
export type ComparisonMetric = keyof typeof COMPARISON_METRICS;

/** The metric names, as a non-empty tuple for zod's enum. */
export const COMPARISON_METRIC_NAMES = Object.keys(COMPARISON_METRICS) as [
  ComparisonMetric,
  ...ComparisonMetric[],
];
