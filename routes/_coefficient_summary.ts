/**
 * A job's coefficient summary as GET /v1/jobs/{id}/coefficients returns it:
 * the latest vector of each (batch, layer) tallied per layer by the engine's
 * own CoefficientTally (the `coefficients` event's numbers), and the entries
 * solved per epoch.
 */
import {
  type CoefficientEpochHistory,
  type JobRow,
  listCoefficientHistory,
  listLatestCoefficients,
  type Queryable,
} from "../db/mod.ts";
// The pure modules, not engine/mod.ts: the API process never loads TF.js.
import { CoefficientTally } from "../src/engine/coefficient_summary.ts";
import { FngdSpec } from "../src/engine/spec.ts";
import type { CoefficientLayerSummary } from "../src/engine/types.ts";

/** The summary: per layer over the latest entries, and the per-epoch history. */
export interface CoefficientSummary {
  layers: CoefficientLayerSummary[];
  history: CoefficientEpochHistory[];
}

/**
 * The alpha the job's optimizer ran with, which the `coefficients` event
 * reports as `damping`: the stored spec's, or the engine's default where the
 * spec has none (the API stores specs with their defaults filled in).
 */
function alphaOf(job: JobRow): number {
  const optimizer = job.spec.optimizer as { damping?: unknown } | undefined;
  return typeof optimizer?.damping === "number"
    ? optimizer.damping
    : FngdSpec.shape.damping.parse(undefined);
}

/** Summarises `job`'s cached coefficients. */
export async function summarizeJobCoefficients(
  db: Queryable,
  job: JobRow,
): Promise<CoefficientSummary> {
  const [latest, history] = await Promise.all([
    listLatestCoefficients(db, job.id),
    listCoefficientHistory(db, job.id),
  ]);
  const tally = new CoefficientTally();
  for (const v of latest) tally.add(v.layer, v.coefficients);
  return { layers: tally.summary(alphaOf(job)), history };
}
