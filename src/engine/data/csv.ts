/**
 * Numeric CSV datasets: a header row, one integer label column, and every
 * other column a feature. Deliberately a small hand parser: no quoting.
 */
import { type Dataset, EngineError } from "../types.ts";

/** Options for {@link parseCsvDataset}. */
export interface CsvDatasetOptions {
  /** Header name of the label column. */
  labelColumn: string;
  /** Shape of one sample; its product must equal the number of feature columns. */
  shape?: number[];
}

// A plain decimal number. Number() alone would also accept "", " ", "0x1f"
// and "Infinity", none of which belong in a numeric dataset.
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function invalid(message: string): EngineError {
  return new EngineError("invalid_data", message);
}

/** Splits into lines, accepting \n or \r\n and ignoring trailing blank lines. */
function splitLines(text: string): string[] {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1].trim() === "") {
    lines.pop();
  }
  return lines;
}

function splitCells(line: string, lineNo: number): string[] {
  const quote = line.indexOf('"');
  if (quote >= 0) {
    throw invalid(
      `line ${lineNo}, character ${
        quote + 1
      }: quoted fields are not supported; expected plain numbers separated by commas`,
    );
  }
  return line.split(",").map((c) => c.trim());
}

function findLabelColumn(header: string[], name: string): number {
  const at = header.indexOf(name);
  if (at < 0) {
    throw invalid(
      `line 1: label column "${name}" not found; header has ${
        header.map((h) => `"${h}"`).join(", ")
      }`,
    );
  }
  if (header.indexOf(name, at + 1) >= 0) {
    throw invalid(`line 1: label column "${name}" appears more than once`);
  }
  return at;
}

function sampleShapeFor(features: number, shape?: number[]): number[] {
  if (shape === undefined) return [features];
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== features) {
    throw invalid(
      `shape [${
        shape.join(", ")
      }] holds ${size} values but the CSV has ${features} feature columns`,
    );
  }
  return [...shape];
}

/** Parses one cell as a float32-representable number. */
function parseCell(cell: string, where: string): number {
  if (!NUMBER.test(cell)) {
    throw invalid(`${where}: expected a number, found "${cell}"`);
  }
  const v = Number(cell);
  if (!Number.isFinite(Math.fround(v))) {
    throw invalid(
      `${where}: expected a number within float32 range, found "${cell}"`,
    );
  }
  return v;
}

/** A CSV's header row, parsed: its cells, the label's index, the sample shape. */
export interface CsvHeader {
  header: string[];
  labelAt: number;
  sampleShape: number[];
}

/**
 * Parses the header row (line 1), for readers that see a CSV line by line.
 * @throws {EngineError} `invalid_data` for a missing or repeated label column,
 * no feature columns, or a shape that does not hold them.
 */
export function parseCsvHeader(
  line: string,
  options: CsvDatasetOptions,
): CsvHeader {
  const header = splitCells(line, 1);
  const labelAt = findLabelColumn(header, options.labelColumn);
  const features = header.length - 1;
  if (features === 0) {
    throw invalid(
      `line 1: expected feature columns besides "${options.labelColumn}", found none`,
    );
  }
  return {
    header,
    labelAt,
    sampleShape: sampleShapeFor(features, options.shape),
  };
}

/**
 * Parses data line `lineNo` (2 is the first) into `x` from `xOffset`;
 * returns its label.
 * @throws {EngineError} `invalid_data` naming the line and column.
 */
export function parseCsvRow(
  line: string,
  lineNo: number,
  { header, labelAt }: CsvHeader,
  x: Float32Array,
  xOffset: number,
): number {
  const cells = splitCells(line, lineNo);
  if (cells.length !== header.length) {
    throw invalid(
      `line ${lineNo}: expected ${header.length} columns, found ${cells.length}`,
    );
  }
  let f = xOffset;
  let label = 0;
  for (let c = 0; c < cells.length; c++) {
    const where = `line ${lineNo}, column ${c + 1} ("${header[c]}")`;
    const v = parseCell(cells[c], where);
    if (c !== labelAt) {
      x[f++] = v;
    } else if (Number.isInteger(v) && v >= 0 && v <= 2 ** 31 - 1) {
      label = v;
    } else {
      throw invalid(
        `${where}: expected a non-negative integer label, found "${cells[c]}"`,
      );
    }
  }
  return label;
}

/**
 * Parses a numeric CSV with a header row into a dataset.
 * @throws {EngineError} `invalid_data` naming the line and column of an empty
 * file, missing label column, ragged row, non-numeric cell or non-integer label.
 */
export function parseCsvDataset(
  text: string,
  options: CsvDatasetOptions,
): Dataset {
  const lines = splitLines(text);
  if (lines.length === 0) {
    throw invalid("empty CSV file: expected a header row and data rows");
  }
  const parsed = parseCsvHeader(lines[0], options);
  const features = parsed.header.length - 1;
  const rows = lines.length - 1;
  if (rows === 0) throw invalid("CSV has a header row but no data rows");

  const x = new Float32Array(rows * features);
  const y = new Int32Array(rows);
  let maxLabel = 0;
  for (let r = 0; r < rows; r++) {
    y[r] = parseCsvRow(lines[r + 1], r + 2, parsed, x, r * features);
    maxLabel = Math.max(maxLabel, y[r]);
  }
  return {
    x,
    y,
    sampleShape: parsed.sampleShape,
    classes: Math.max(2, maxLabel + 1),
  };
}
