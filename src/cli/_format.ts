/** How the CLI writes numbers, durations, epochs and statuses for people. */
import type { components, Job } from "../../sdk/mod.ts";

type Schemas = components["schemas"];
type EpochData = Schemas["EpochEventData"];
type StatusData = Schemas["StatusEventData"];

/** 4 significant digits; exponent form for very large or small magnitudes; `-` for none. */
export function num(x: number | null | undefined): string {
  if (x === null || x === undefined) return "-";
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return x.toExponential(2);
  return String(Number(x.toPrecision(4)));
}

/** `0.4s`, `12s`, `2m05s`, `1h02m`. */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/** The validation metrics an epoch or result carries, in a fixed order. */
const VAL_METRICS = [
  "val_loss",
  "val_accuracy",
  "val_reconstruction_error",
  "val_exact_match",
  "val_bleu",
] as const;

/** The test metrics a result may carry. */
const TEST_METRICS = [
  "test_accuracy",
  "test_reconstruction_error",
  "test_exact_match",
  "test_bleu",
] as const;

/** `name value` pairs for the metrics of `data` that are present and not null. */
function metrics(data: object, names: readonly string[]): string[] {
  const values = data as Record<string, unknown>;
  return names.flatMap((k) => {
    const v = values[k];
    return typeof v === "number" ? [`${k} ${num(v)}`] : [];
  });
}

/** One finished epoch: `epoch 2/3  inverse_free  train_loss 0.41  val_loss 0.39  val_accuracy 0.88  0.4s`. */
export function epochLine(e: EpochData, epochs: number): string {
  // Padded so that a run's epoch lines line up column by column.
  const total = String(epochs);
  return [
    `epoch ${String(e.epoch).padStart(total.length)}/${total}`,
    e.phase.padEnd("inverse_free".length),
    `train_loss ${num(e.train_loss)}`,
    ...metrics(e, VAL_METRICS),
    duration(e.seconds),
  ].join("  ");
}

/** A status change: `status running (attempt 1, worker w-1)`. */
export function statusLine(d: StatusData): string {
  const notes: string[] = [];
  if (d.attempt !== undefined) notes.push(`attempt ${d.attempt}`);
  if (d.worker) notes.push(`worker ${d.worker}`);
  if (d.reason === "worker_shutdown") notes.push("its worker shut down");
  return `status ${d.status}${notes.length ? ` (${notes.join(", ")})` : ""}`;
}

/** A succeeded job's final metrics and training time, one line. */
export function resultLine(result: Schemas["JobResult"]): string {
  const seconds = Object.values(result.seconds_by_phase)
    .reduce((a: number, b) => a + (b ?? 0), 0);
  return [
    `trained in ${duration(seconds)}`,
    ...metrics(result.final, [...TEST_METRICS, ...VAL_METRICS]),
  ].join("  ");
}

/** What a job trains: `fngd lr 0.1 on synthetic, 3 epochs`. */
export function jobSummary(job: Job): string {
  const { optimizer, epochs } = job.spec;
  return `${optimizer.name} lr ${optimizer.lr} on ${datasetName(job)}, ${
    epochs === 1 ? "1 epoch" : `${epochs} epochs`
  }`;
}

/** The dataset a job trains on: its name, or `dataset <id>` for an upload. */
export function datasetName(job: Job): string {
  const d = job.spec.dataset;
  return "name" in d ? d.name : `dataset ${d.id}`;
}

/** A timestamp as local `YYYY-MM-DD HH:MM:SS`; `-` for none. */
export function when(iso: string | null | undefined): string {
  if (!iso) return "-";
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${
    p(d.getHours())
  }:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
