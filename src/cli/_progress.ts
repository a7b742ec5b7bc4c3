/**
 * A job's progress from its event stream: what to print for each event and
 * where the bars stand. Rates and ETAs come from the events' own timestamps,
 * so a replay of a job's history (watching it late, or after a reconnect)
 * estimates the same as watching it live.
 */
import type { components, JobEvent } from "../../sdk/mod.ts";
import { isTerminal } from "../../sdk/mod.ts";
import { epochLine, num, statusLine } from "./_format.ts";

type Schemas = components["schemas"];

/** Where a job stands, for the bars. */
export interface ProgressState {
  /** Epochs the job will train. */
  epochs: number;
  /** Epochs finished. */
  finished: number;
  /** The epoch under way (1-based). */
  epoch: number;
  step: number;
  steps: number;
  loss?: number;
  phase?: Schemas["Phase"];
  /** Seconds until this epoch's last step, once a rate is known. */
  epochEta?: number;
  /** Seconds until the job's last step, once a rate is known. */
  jobEta?: number;
}

/** What one event asks the view to do. */
export type Output =
  /** A lasting line on stdout. */
  | { kind: "line"; text: string }
  /** A note for stderr. */
  | { kind: "warn"; text: string }
  /** The bars moved. */
  | { kind: "progress"; state: ProgressState };

/** Follows one job's events; {@link ProgressTracker.handle} each in order. */
export class ProgressTracker {
  /** The terminal status event's data, once it has come. */
  final?: Schemas["StatusEventData"];
  /** The failed job's error, from its job_error event. */
  error?: Schemas["JobError"];
  readonly #state: ProgressState;
  /** The first step event seen in the current epoch: the start of its rate. */
  #anchor?: { t: number; step: number };
  /** Seconds per step, from the current epoch or the last finished one. */
  #secondsPerStep?: number;
  /** The last finished epoch's seconds: the best guess for each one left. */
  #lastEpochSeconds?: number;

  constructor(epochs: number) {
    this.#state = { epochs, finished: 0, epoch: 1, step: 0, steps: 0 };
  }

  /** A copy of where the job stands. */
  get state(): ProgressState {
    return { ...this.#state };
  }

  handle(event: JobEvent): Output[] {
    switch (event.type) {
      case "status":
        if (isTerminal(event.data.status)) this.final = event.data;
        return [{ kind: "line", text: statusLine(event.data) }];
      case "lr_range":
        return [{
          kind: "line",
          text: `lr range test: chose lr ${
            num(event.data.chosen_lr)
          } after ${event.data.steps} steps`,
        }];
      case "step":
        return [{ kind: "progress", state: this.#step(event) }];
      case "epoch":
        return [
          { kind: "line", text: epochLine(event.data, this.#state.epochs) },
          { kind: "progress", state: this.#epoch(event) },
        ];
      case "job_error":
        this.error = event.data;
        return [];
      case "log":
        return [{
          kind: event.data.level === "warn" ? "warn" : "line",
          text: `${event.data.level}: ${event.data.message}`,
        }];
      default:
        // coefficients, staleness, checkpoint: for the API's readers, not a person watching.
        return [];
    }
  }

  #step(event: Extract<JobEvent, { type: "step" }>): ProgressState {
    const d = event.data;
    const t = Date.parse(event.created_at) / 1000;
    const s = this.#state;
    if (d.epoch !== s.epoch || !this.#anchor) {
      this.#anchor = { t, step: d.step };
    } else if (d.step > this.#anchor.step) {
      this.#secondsPerStep = (t - this.#anchor.t) /
        (d.step - this.#anchor.step);
    }
    Object.assign(s, {
      epoch: d.epoch,
      finished: Math.max(s.finished, d.epoch - 1),
      step: d.step,
      steps: d.steps,
      loss: d.loss,
      phase: d.phase,
    });
    this.#estimate();
    return this.state;
  }

  #epoch(event: Extract<JobEvent, { type: "epoch" }>): ProgressState {
    const d = event.data;
    const s = this.#state;
    Object.assign(s, {
      epoch: d.epoch,
      finished: d.epoch,
      step: d.steps,
      steps: d.steps,
      phase: d.phase,
    });
    this.#anchor = undefined;
    this.#lastEpochSeconds = d.seconds;
    if (d.steps > 0) this.#secondsPerStep = d.seconds / d.steps;
    this.#estimate();
    return this.state;
  }

  #estimate(): void {
    const s = this.#state;
    const perStep = this.#secondsPerStep;
    if (perStep === undefined) return;
    const epochLeft = s.finished >= s.epoch
      ? 0
      : Math.max(0, s.steps - s.step) * perStep;
    const epochsLeft = Math.max(0, s.epochs - Math.max(s.finished, s.epoch));
    const perEpoch = this.#lastEpochSeconds ?? s.steps * perStep;
    s.epochEta = epochLeft;
    s.jobEta = epochLeft + epochsLeft * perEpoch;
  }
}
