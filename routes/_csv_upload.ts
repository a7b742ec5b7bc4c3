/**
 * A CSV upload, checked row by row with the engine's row parser as it
 * streams into the blob store, with its label column's header renamed
 * `label` (routes/_dataset_content.ts). Only the current line is held.
 */
import type { BlobStore } from "../db/mod.ts";
import {
  type CsvHeader,
  parseCsvHeader,
  parseCsvRow,
} from "../src/engine/data/mod.ts";
import { openFileStream } from "./_byte_streams.ts";
import {
  asInvalidSync,
  type EncodedDataset,
  STORED_LABEL_COLUMN,
} from "./_dataset_content.ts";
import type { SpooledFile } from "./_multipart.ts";
import { ApiError } from "./problem.ts";

const FIELD = "file";

/** Follows the CSV line by line as the engine's parseCsvDataset reads it. */
class CsvRows {
  header?: CsvHeader;
  rows = 0;
  maxLabel = 0;
  #x = new Float32Array(0);
  #line = 0;
  /** Blank lines seen since the last other one: an error only if more follow. */
  #blank: [number, string][] = [];

  constructor(
    private readonly labelColumn: string,
    private readonly shape: number[] | undefined,
  ) {}

  /** Takes the next line, without its line break. */
  line(text: string): void {
    const n = ++this.#line;
    if (text.trim() === "") {
      this.#blank.push([n, text]);
      return;
    }
    for (const [m, blank] of this.#blank) this.#parse(m, blank);
    this.#blank = [];
    this.#parse(n, text);
  }

  /** Checks that there was a header and a row; trailing blank lines drop. */
  end(): void {
    if (!this.header) {
      throw new ApiError(
        "invalid_dataset",
        `${FIELD}: empty CSV file: expected a header row and data rows`,
      );
    }
    if (this.rows === 0) {
      throw new ApiError(
        "invalid_dataset",
        `${FIELD}: CSV has a header row but no data rows`,
      );
    }
  }

  #parse(n: number, text: string): void {
    if (n === 1) {
      const header = asInvalidSync(
        FIELD,
        () =>
          parseCsvHeader(text.replace(/^\uFEFF/, ""), {
            labelColumn: this.labelColumn,
            shape: this.shape,
          }),
      );
      if (
        this.labelColumn !== STORED_LABEL_COLUMN &&
        header.header.includes(STORED_LABEL_COLUMN)
      ) {
        throw new ApiError(
          "invalid_dataset",
          `${FIELD}: a feature column is named "${STORED_LABEL_COLUMN}" while label_column is "${this.labelColumn}"; rename one of them`,
        );
      }
      this.header = header;
      this.#x = new Float32Array(header.header.length - 1);
      return;
    }
    const label = asInvalidSync(
      FIELD,
      () => parseCsvRow(text, n, this.header!, this.#x, 0),
    );
    if (label > this.maxLabel) this.maxLabel = label;
    this.rows++;
  }
}

/** The stored header: BOM dropped, cells trimmed, the label column renamed. */
function storedHeader(line: string, labelColumn: string): string {
  return line.replace(/^\uFEFF/, "").split(",").map((c) => c.trim())
    .map((c) => c === labelColumn ? STORED_LABEL_COLUMN : c).join(",");
}

/**
 * Checks and stores a CSV upload.
 * @throws {ApiError} `invalid_dataset` with the parser's line and column;
 * nothing stays staged then.
 */
export async function encodeCsv(
  file: SpooledFile,
  labelColumn: string,
  shape: number[] | undefined,
  blobs: BlobStore,
): Promise<EncodedDataset> {
  const rows = new CsvRows(labelColumn, shape);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const encoder = new TextEncoder();
  /** Text of the line in progress. */
  let pending = "";
  /** Until the first line break, the header is held back to be renamed. */
  let headerOut = true;
  const decode = (chunk?: Uint8Array) => {
    try {
      return chunk ? decoder.decode(chunk, { stream: true }) : decoder.decode();
    } catch (e) {
      throw new ApiError(
        "invalid_dataset",
        `${FIELD}: CSV must be UTF-8 text`,
        {
          cause: e,
        },
      );
    }
  };
  /** Feeds complete lines to the checker; returns the text to store. */
  const take = (text: string, last: boolean): string => {
    let out = "";
    let start = 0;
    pending += text;
    for (;;) {
      const nl = pending.indexOf("\n", start);
      if (nl < 0) break;
      const line = pending.slice(start, nl).replace(/\r$/, "");
      rows.line(line);
      if (headerOut) {
        headerOut = false;
        out += storedHeader(line, labelColumn) +
          pending.slice(start + line.length, nl + 1);
      } else {
        out += pending.slice(start, nl + 1);
      }
      start = nl + 1;
    }
    // A partial line waits for its end, for the checker and the output alike.
    pending = pending.slice(start);
    if (last) {
      rows.line(pending);
      out += headerOut ? storedHeader(pending, labelColumn) : pending;
      pending = "";
    }
    return out;
  };
  const source = await openFileStream(file.path);
  const staged = await blobs.stage(source.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        const out = take(decode(chunk), false);
        if (out) controller.enqueue(encoder.encode(out));
      },
      flush(controller) {
        const out = take(decode(), true);
        if (out) controller.enqueue(encoder.encode(out));
        rows.end();
      },
    }),
  ));
  return {
    content: staged,
    shape: rows.header!.sampleShape,
    samples: rows.rows,
    classes: Math.max(2, rows.maxLabel + 1),
  };
}
