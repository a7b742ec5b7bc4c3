/**
 * What every bench keeps per optimizer across interleaved rounds (its timed
 * epochs, the final test metric, counters) and the timing table both
 * reports print: one line per optimizer and phase.
 */
import type { EpochEventData, StalenessEventData } from "../src/engine/mod.ts";

/** One optimizer (or `tf.LayersModel.fit`) across all rounds. */
export interface Row {
  name: string;
  epochs: EpochEventData[];
  /** The 1-based round of each entry of `epochs`. */
  rounds?: number[];
  /** Test accuracy, or test reconstruction error for autoencoders; from the last round. */
  testAccuracy: number | undefined;
  counters?: Record<string, number>;
  seconds_by_phase?: Record<string, number>;
  /** fngd's staleness events, from the last round. */
  staleness?: StalenessEventData[];
  /** Why a round stopped early (e.g. `diverged`), from the last round that failed. */
  error?: string;
  /**
   * Milliseconds of each step by phase, all rounds, where the bench timed
   * steps: the gap between consecutive step events of one epoch.
   */
  stepMs?: Record<string, number[]>;
}

export const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Epoch seconds of `row`, of one phase (all phases when omitted) and optionally one round. */
export function epochSeconds(
  row: Row | undefined,
  phase?: string,
  round?: number,
): number[] {
  if (!row) return [];
  return row.epochs.filter((e, i) =>
    (!phase || e.phase === phase) &&
    (round === undefined || row.rounds?.[i] === round)
  ).map((e) => e.seconds);
}

/** Mean seconds per epoch of `row` (of one phase when given), NaN when none. */
export function meanSeconds(row: Row | undefined, phase?: string): number {
  const s = epochSeconds(row, phase);
  return s.length ? mean(s) : NaN;
}

/** The rows of all rounds; a round's row merges into the row of the same name. */
export class RowSet {
  readonly rows: Row[] = [];

  /** Epochs accumulate; the metric, counters and error are the latest round's. */
  record(row: Row, round?: number): void {
    const rounds = row.epochs.map(() => round ?? 0);
    const existing = this.rows.find((r) => r.name === row.name);
    if (!existing) {
      this.rows.push(round === undefined ? row : { ...row, rounds });
      return;
    }
    existing.epochs.push(...row.epochs);
    existing.rounds?.push(...rounds);
    existing.testAccuracy = row.testAccuracy;
    existing.counters = row.counters;
    existing.seconds_by_phase = row.seconds_by_phase;
    existing.staleness = row.staleness;
    if (row.error) existing.error = row.error;
    for (const [phase, ms] of Object.entries(row.stepMs ?? {})) {
      existing.stepMs ??= {};
      (existing.stepMs[phase] ??= []).push(...ms);
    }
  }

  /** The row named `name`, else the first variant of it (`sgd:lr=0.05`). */
  byName(name: string): Row | undefined {
    return this.rows.find((r) => r.name === name) ??
      this.rows.find((r) => r.name.split(":")[0] === name);
  }
}

/** The median step of `row` in `phase` (every phase when omitted), ms; NaN when none. */
export function medianStepMs(row: Row | undefined, phase?: string): number {
  const all = phase
    ? row?.stepMs?.[phase] ?? []
    : Object.values(row?.stepMs ?? {}).flat();
  if (all.length === 0) return NaN;
  const sorted = [...all].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** `x / base` to 3 decimals, or n/a. */
export function ratioText(x: number, base: number): string {
  return Number.isFinite(x / base) ? (x / base).toFixed(3) : "n/a";
}

/**
 * Table lines, one per optimizer and phase: epochs timed, mean, min and max
 * seconds, the mean as a ratio to the mean SGD epoch, and `metric(row)`.
 */
export function timingLines(
  rows: readonly Row[],
  sgdEpoch: number,
  metric: (r: Row) => string,
): string[] {
  const lines: string[] = [];
  for (const r of rows) {
    const phases = [...new Set(r.epochs.map((e) => e.phase))];
    for (const p of phases) {
      const secs = epochSeconds(r, p);
      const s = mean(secs);
      const cells = [
        r.name,
        p,
        secs.length,
        s.toFixed(2),
        Math.min(...secs).toFixed(2),
        Math.max(...secs).toFixed(2),
        ratioText(s, sgdEpoch),
        metric(r),
      ];
      lines.push(`| ${cells.join(" | ")} |`);
    }
    if (!phases.length) {
      lines.push(
        `| ${r.name} | - | 0 | n/a | n/a | n/a | n/a | ${metric(r)} |`,
      );
    }
  }
  return lines;
}

/** The header line of every bench report. */
export function runLine(opts: {
  samples: number;
  limit?: number;
  /** Test samples kept, when the bench cut the test split. */
  testLimit?: number;
  epochs: number;
  rounds: number;
}): string {
  return `Date: ${
    new Date().toISOString()
  }; Deno ${Deno.version.deno}; ${navigator.hardwareConcurrency} cores; samples ${opts.samples}${
    opts.limit ? ` (limit ${opts.limit})` : ""
  }${
    opts.testLimit ? `; test samples: the first ${opts.testLimit}` : ""
  }; ${opts.epochs} epochs each, ${opts.rounds} interleaved rounds.`;
}
