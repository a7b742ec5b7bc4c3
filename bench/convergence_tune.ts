/**
 * Tuning for the convergence suite: each optimizer's lr on a log grid
 * around its spec default, then its damping (where it has one) at the best
 * lr, chosen by the final validation metric. Coordinate search rather than
 * the full lr x damping product keeps a task at 7 runs per optimizer
 * instead of 15, which is what lets the suite fit its time budget.
 */
import { JobSpec } from "../src/engine/mod.ts";
import { type BenchConfig, parseVariant } from "./config_bench.ts";
import { better, type Direction } from "./convergence_metrics.ts";
import type { Grid } from "./convergence_tasks.ts";
import type { Row } from "./rows.ts";

/** The field each optimizer calls its damping; Shampoo's is `epsilon`. */
const DAMPING_FIELD: Record<string, string> = {
  ngd: "damping",
  fngd: "damping",
  kfac: "damping",
  eva: "damping",
  shampoo: "epsilon",
};

/** An optimizer's zod-default lr and damping (not the config's values). */
export function optimizerDefaults(
  cfg: BenchConfig,
  label: string,
): { lr: number; dampingField?: string; damping?: number } {
  const { name } = parseVariant(label);
  const optimizer = JobSpec.parse({ ...cfg.input, optimizer: { name } })
    .optimizer as unknown as Record<string, number>;
  const dampingField = DAMPING_FIELD[name];
  // The grid multiplies a number; an "auto" default would have no centre.
  if (typeof optimizer.lr !== "number") {
    throw new Error(`${label}: default lr is not a number`);
  }
  return {
    lr: optimizer.lr,
    ...(dampingField ? { dampingField, damping: optimizer[dampingField] } : {}),
  };
}

/** `x` to 4 significant digits, so labels read `0.025` rather than `0.025000000000000001`. */
function short(x: number): number {
  return Number(x.toPrecision(4));
}

/** `label` with lr and damping fields appended, in the variant syntax. */
export function variantLabel(
  label: string,
  lr: number,
  damping?: { field: string; value: number },
): string {
  const parts = [label, `lr=${short(lr)}`];
  if (damping) parts.push(`${damping.field}=${short(damping.value)}`);
  return parts.join(":");
}

export interface Trial {
  variant: string;
  lr: number;
  damping?: number;
  /** Final validation metric; undefined for a run that stopped (e.g. diverged). */
  val?: number;
  /** Final validation loss, which breaks ties (BLEU is often 0 for every trial of a short run). */
  valLoss?: number;
  error?: string;
}

export interface TuneResult {
  label: string;
  defaults: ReturnType<typeof optimizerDefaults>;
  trials: Trial[];
  chosen: Trial;
  /** The chosen trial's run, reused as the first seed's. */
  row: Row;
}

/**
 * Tunes `label` with `run` (trains one variant, returns its row) and
 * `finalVal` (a row's final validation metric). Ties go to the lower final
 * validation loss, then to the earlier trial; when every trial failed the
 * default setting is kept.
 */
export async function tuneOptimizer(
  cfg: BenchConfig,
  label: string,
  grid: Grid,
  dir: Direction,
  run: (variant: string) => Promise<Row>,
  finalVal: (row: Row) => number | undefined,
): Promise<TuneResult> {
  const defaults = optimizerDefaults(cfg, label);
  const trials: Trial[] = [];
  const rows = new Map<string, Row>();
  // A group's runs go out together (a pool may run them at once); their
  // trials are recorded in grid order, so ties resolve the same either way.
  const attemptAll = async (points: { lr: number; damping?: number }[]) => {
    const fresh = new Map<string, { lr: number; damping?: number }>();
    for (const { lr, damping } of points) {
      const variant = variantLabel(
        label,
        lr,
        damping === undefined
          ? undefined
          : { field: defaults.dampingField!, value: damping },
      );
      if (!rows.has(variant) && !fresh.has(variant)) {
        fresh.set(variant, { lr, damping });
      }
    }
    const done = await Promise.all([...fresh.keys()].map((v) => run(v)));
    [...fresh].forEach(([variant, { lr, damping }], i) => {
      const row = done[i];
      rows.set(variant, row);
      trials.push({
        variant,
        lr: short(lr),
        ...(damping === undefined ? {} : { damping: short(damping) }),
        val: finalVal(row),
        ...(row.error
          ? {}
          : { valLoss: row.epochs.at(-1)?.val_loss ?? undefined }),
        ...(row.error ? { error: row.error } : {}),
      });
    });
  };
  const wins = (t: Trial, b: Trial) =>
    better(t.val, b.val, dir) ||
    (t.val !== undefined && t.val === b.val &&
      better(t.valLoss, b.valLoss, "lower"));
  const best = () => trials.reduce((b, t) => wins(t, b) ? t : b, trials[0]);

  await attemptAll(
    grid.lr.map((m) => ({ lr: defaults.lr * m, damping: defaults.damping })),
  );
  const lr = best().lr;
  if (defaults.damping !== undefined) {
    const damping = defaults.damping;
    await attemptAll(grid.damping.map((m) => ({ lr, damping: damping * m })));
  }
  let chosen = best();
  if (chosen.val === undefined) {
    chosen = trials.find((t) =>
      t.lr === short(defaults.lr) &&
      t.damping === (defaults.damping && short(defaults.damping))
    ) ?? chosen;
  }
  return { label, defaults, trials, chosen, row: rows.get(chosen.variant)! };
}
