/**
 * Which epoch metric a comparison ranks its optimizers by, and whether a
 * spec's task reports it at all: a target no job can ever report would leave
 * the table empty after hours of training, so it is refused up front.
 */
import { COMPARISON_METRICS, type ComparisonMetric } from "../db/mod.ts";

/** The fields of a job spec that decide which metrics its epochs report. */
export interface TaskFields {
  target?: string;
  loss?: string;
  validation_split?: number;
}

/**
 * Why jobs of `spec` never report `metric`, or undefined when they do: every
 * metric is measured on the validation rows; accuracy is null for
 * autoencoders, which report reconstruction error instead; exact match and
 * BLEU exist only for token sequences.
 */
export function metricUnavailable(
  spec: TaskFields,
  metric: ComparisonMetric,
): string | undefined {
  if (spec.validation_split === 0) {
    return `${metric} is measured on the validation rows, and spec.validation_split is 0`;
  }
  const autoencoder = spec.target === "input";
  if (metric === "val_accuracy" && autoencoder) {
    return 'val_accuracy is null for an autoencoder (spec.target "input"); use val_reconstruction_error or val_loss';
  }
  if (metric === "val_reconstruction_error" && !autoencoder) {
    return `val_reconstruction_error exists only for autoencoders (spec.target "input"), got target "${spec.target}"`;
  }
  if (
    (metric === "val_exact_match" || metric === "val_bleu") &&
    spec.loss !== "sequence_cross_entropy"
  ) {
    return `${metric} exists only for token sequences (spec.loss "sequence_cross_entropy"), got loss "${spec.loss}"`;
  }
  return undefined;
}

/**
 * The metric the table ranks by: the target's, or else the task's headline
 * metric (reconstruction error for autoencoders, accuracy otherwise).
 */
export function rankingMetric(
  spec: TaskFields,
  target: { metric: ComparisonMetric } | null | undefined,
): { name: ComparisonMetric; better: "higher" | "lower" } {
  const name = target?.metric ??
    (spec.target === "input" ? "val_reconstruction_error" : "val_accuracy");
  return { name, better: COMPARISON_METRICS[name].better };
}
