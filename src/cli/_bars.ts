/**
 * The terminal view of a watched job: an epoch bar and a step bar (loss,
 * phase, ETA) drawn by cli-progress, with lasting lines (finished epochs,
 * status changes) printed above them.
 */
import cliProgress from "cli-progress";
import process from "node:process";
import { duration, num } from "./_format.ts";
import type { ProgressState } from "./_progress.ts";
import type { View } from "./_watch.ts";

/** What cli-progress writes to: a TTY stream (process.stdout, or a fake in tests). */
export interface BarStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

const FORMAT = "{label} [{bar}] {value}/{total}  {info}";

/** Draws the bars on `stream` (stdout by default; cli-progress's own default is stderr). */
export class BarsView implements View {
  #multi?: cliProgress.MultiBar;
  #epochs?: cliProgress.SingleBar;
  #steps?: cliProgress.SingleBar;

  constructor(private readonly stream: BarStream = process.stdout) {}

  line(text: string): void {
    // While the bars are drawn, a line goes through cli-progress, which
    // prints it above them at the next redraw.
    if (this.#multi) this.#multi.log(`${text}\n`);
    else this.stream.write(`${text}\n`);
  }

  warn(text: string): void {
    this.line(text);
  }

  progress(s: ProgressState): void {
    if (!this.#multi) {
      this.#multi = new cliProgress.MultiBar({
        // The type says NodeJS.WritableStream; cli-progress only writes to it.
        stream: this.stream as unknown as NodeJS.WritableStream,
        format: FORMAT,
        barsize: 30,
        hideCursor: true,
        clearOnComplete: true,
        fps: 10,
        barCompleteChar: "\u2588",
        barIncompleteChar: "\u2591",
      });
      this.#epochs = this.#multi.create(s.epochs, 0, { label: "", info: "" });
      this.#steps = this.#multi.create(s.steps, 0, { label: "", info: "" });
    }
    const label = `epoch ${s.epoch}`;
    const width = Math.max(label.length, "epochs".length);
    this.#epochs!.setTotal(s.epochs);
    this.#epochs!.update(s.finished, {
      label: "epochs".padEnd(width),
      info: s.jobEta === undefined ? "" : `ETA ${duration(s.jobEta)}`,
    });
    this.#steps!.setTotal(Math.max(1, s.steps));
    this.#steps!.update(s.step, {
      label: label.padEnd(width),
      info: [
        s.loss === undefined ? "" : `loss ${num(s.loss)}`,
        s.phase ?? "",
        s.epochEta === undefined ? "" : `ETA ${duration(s.epochEta)}`,
      ].filter(Boolean).join("  "),
    });
  }

  close(): void {
    if (!this.#multi) return;
    // Lines logged since the last redraw are printed by a redraw, not by stop().
    this.#multi.update();
    this.#multi.stop();
    this.#multi = undefined;
  }
}
