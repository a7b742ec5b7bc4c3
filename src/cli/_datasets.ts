/**
 * `fngd datasets upload FILE...`: the API's upload fields as files in a fixed
 * order per format, and flags for the rest.
 */
import { basename } from "node:path";
import type { DatasetUpload } from "../../sdk/mod.ts";
import { type Command, positiveInt, str, type Values } from "./_args.ts";
import { CliError, EXIT, UsageError } from "./_errors.ts";

type Format = DatasetUpload["format"];

/** Per format: the upload fields its files fill, in order, and how many files it takes. */
const FILES: Record<Format, { fields: string[]; counts: number[] }> = {
  csv: { fields: ["file"], counts: [1] },
  idx: {
    fields: ["images", "labels", "test_images", "test_labels"],
    counts: [2, 4],
  },
  parallel_text: { fields: ["file", "test_file"], counts: [1, 2] },
};

/** Flags that belong to one format only. */
const FORMAT_FLAGS: Record<string, Format> = {
  "label-column": "csv",
  shape: "csv",
  tokenizer: "parallel_text",
  "max-length": "parallel_text",
  "test-fraction": "parallel_text",
};

const HELP =
  `usage: fngd datasets upload FILE... [--format csv|idx|parallel_text] [--name NAME] [flags]

Uploads training data; the service parses it before storing it and answers
with its id, for a job's "dataset": {"id": "..."}.

  csv            fngd datasets upload data.csv [--label-column label] [--shape 28,28,1]
                 one file with a header row; --label-column names the label
                 column (default label), --shape a sample's shape
  idx            fngd datasets upload --format idx IMAGES LABELS [TEST_IMAGES TEST_LABELS]
                 IDX files (raw or gzipped), in that order
  parallel_text  fngd datasets upload --format parallel_text PAIRS.tsv [TEST_PAIRS.tsv]
                 UTF-8 source<TAB>target lines; --tokenizer char|word,
                 --max-length N (tokens per row), --test-fraction F (hold out
                 a fraction of the training lines instead of a test file)

  --format F  csv, idx or parallel_text; by default from the file names
              (.csv; .tsv or .txt; -ubyte or .idx for idx)
  --name N    the dataset's name (default: the first file's name)
  --json      print the service's answer as JSON`;

/** What a usage error prints: the usage line and where the rest is. */
const USAGE = `${HELP.split("\n\n")[0]}
(fngd datasets upload --help says more)`;

/** The format the file names suggest, if they agree on one. */
function guessFormat(files: string[]): Format | undefined {
  const formats = new Set(files.map((f): Format | undefined => {
    const name = f.toLowerCase().replace(/\.gz$/, "");
    if (name.endsWith(".csv")) return "csv";
    if (name.endsWith(".tsv") || name.endsWith(".txt")) return "parallel_text";
    if (/-ubyte$/.test(name) || name.endsWith(".idx")) return "idx";
    return undefined;
  }));
  return formats.size === 1 ? [...formats][0] : undefined;
}

function chooseFormat(values: Values, files: string[]): Format {
  const given = str(values, "format");
  if (given !== undefined) {
    if (!(given in FILES)) {
      throw new UsageError(
        `--format must be csv, idx or parallel_text, got ${
          JSON.stringify(given)
        }`,
        USAGE,
      );
    }
    return given as Format;
  }
  const guessed = guessFormat(files);
  if (!guessed) {
    throw new UsageError(
      "cannot tell the format from the file names; give --format",
      USAGE,
    );
  }
  return guessed;
}

/** `--shape 28,28,1` as numbers. */
function parseShape(raw: string | undefined): number[] | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+(,\d+){0,2}$/.test(raw) || raw.split(",").some((d) => +d < 1)) {
    throw new UsageError(
      `--shape must be 1 to 3 comma-separated positive integers, e.g. 28,28,1, got ${
        JSON.stringify(raw)
      }`,
      USAGE,
    );
  }
  return raw.split(",").map(Number);
}

function parseFraction(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n) || n <= 0 || n >= 1) {
    throw new UsageError(
      `--test-fraction must be a number between 0 and 1, got ${
        JSON.stringify(raw)
      }`,
      USAGE,
    );
  }
  return n;
}

async function readFile(path: string): Promise<File> {
  try {
    return new File([await Deno.readFile(path)], basename(path));
  } catch (err) {
    throw new CliError(`cannot read ${path}: ${(err as Error).message}`);
  }
}

const upload: Command = {
  group: "datasets",
  name: "upload",
  summary: "upload training data: csv, idx or parallel_text files",
  help: HELP,
  options: {
    format: { type: "string" },
    name: { type: "string" },
    "label-column": { type: "string" },
    shape: { type: "string" },
    tokenizer: { type: "string" },
    "max-length": { type: "string" },
    "test-fraction": { type: "string" },
    json: { type: "boolean" },
  },
  args: { min: 1, max: 4, names: "FILE..." },
  async run(ctx, values, files) {
    const format = chooseFormat(values, files);
    const { fields, counts } = FILES[format];
    if (!counts.includes(files.length)) {
      throw new UsageError(
        `format ${format} takes ${counts.join(" or ")} files (${
          fields.join(", ")
        }), got ${files.length}`,
        USAGE,
      );
    }
    for (const [flag, owner] of Object.entries(FORMAT_FLAGS)) {
      if (values[flag] !== undefined && owner !== format) {
        throw new UsageError(
          `--${flag} is for ${owner} uploads, not ${format}`,
          USAGE,
        );
      }
    }
    const tokenizer = str(values, "tokenizer");
    if (
      tokenizer !== undefined && tokenizer !== "char" && tokenizer !== "word"
    ) {
      throw new UsageError(
        `--tokenizer must be char or word, got ${JSON.stringify(tokenizer)}`,
        USAGE,
      );
    }
    const body: DatasetUpload = {
      name: str(values, "name") ?? basename(files[0]),
      format,
      label_column: str(values, "label-column"),
      shape: parseShape(str(values, "shape")),
      tokenizer,
      max_length: positiveInt(values, "max-length", USAGE),
      test_fraction: parseFraction(str(values, "test-fraction")),
    };
    const blobs = await Promise.all(files.map(readFile));
    const record = body as unknown as Record<string, unknown>;
    blobs.forEach((blob, i) => record[fields[i]] = blob);
    const created = await ctx.api.datasets.upload(body);
    if (values.json) {
      console.log(JSON.stringify(created, null, 2));
      return EXIT.ok;
    }
    console.log(
      `uploaded dataset ${created.id}: ${created.name} (${created.format}), ${created.samples} samples, ${created.classes} classes, shape [${
        created.shape.join(", ")
      }], ${created.bytes} bytes`,
    );
    console.log(
      `use it in a job body as "dataset": {"id": "${created.id}"}`,
    );
    return EXIT.ok;
  },
};

/** Every `fngd datasets` command. */
export const DATASET_COMMANDS: Command[] = [upload];
