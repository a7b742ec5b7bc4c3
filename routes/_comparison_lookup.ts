/**
 * The `{id}` of /v1/comparisons/{id} routes, the tenant-scoped lookup behind
 * it, and the comparison's jobs in table order.
 */
import { z } from "@hono/zod-openapi";
import {
  type ComparisonRow,
  type Db,
  getComparison,
  type JobRow,
} from "../db/mod.ts";
import { ApiError } from "./problem.ts";
import { sameJson } from "./_same_json.ts";

/** `{id}`: any string, so that a malformed id is an unknown comparison (404). */
export const ComparisonIdParam = z.object({
  id: z.string().max(200).openapi({
    param: { name: "id", in: "path" },
    example: "0196f3a2-7c1e-7d0a-9a53-2b1f0c8e4d11",
  }),
});

/**
 * The tenant's comparison, or a 404 that never says whether another tenant
 * owns it.
 * @throws {ApiError} `comparison_not_found`.
 */
export async function findComparison(
  db: Db,
  tenant: string,
  id: string,
): Promise<ComparisonRow> {
  const row = await getComparison(db, tenant, id);
  if (!row) {
    throw new ApiError(
      "comparison_not_found",
      `no comparison ${id} for this tenant`,
    );
  }
  return row;
}

/** One job of a comparison and the (optimizer, seed) it runs. */
export interface ComparisonRun {
  job: JobRow;
  /** Index into the comparison's `optimizers`. */
  optimizer: number;
  optimizerName: string;
  seed: number;
}

/**
 * The jobs as runs, optimizer by optimizer and, within one, in `seeds`
 * order: the order of the table and of an SSE cursor's positions.
 * @throws {Error} when a job matches no (optimizer, seed) of the comparison,
 * which creation rules out.
 */
export function comparisonRuns(
  comparison: ComparisonRow,
  jobs: JobRow[],
): ComparisonRun[] {
  const runs = jobs.map((job) => {
    const spec = job.spec as { optimizer: { name: string }; seed: number };
    // The jobs' optimizers are the stored ones, defaults filled in alike.
    const optimizer = comparison.optimizers.findIndex((o) =>
      sameJson(o, spec.optimizer)
    );
    const seed = comparison.seeds.indexOf(spec.seed);
    if (optimizer < 0 || seed < 0) {
      throw new Error(
        `job ${job.id} of comparison ${comparison.id} matches none of its optimizers and seeds`,
      );
    }
    return {
      run: {
        job,
        optimizer,
        optimizerName: spec.optimizer.name,
        seed: spec.seed,
      },
      order: optimizer * comparison.seeds.length + seed,
    };
  });
  return runs.sort((a, b) => a.order - b.order).map((r) => r.run);
}
