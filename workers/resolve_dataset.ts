/**
 * Turns a dataset spec into an in-memory dataset for the CLI and the worker:
 * finds named IDX datasets on disk, reads CSV, IDX and parallel-text files
 * from paths, and generates the synthetic ones.
 */
import { isAbsolute, join, resolve } from "node:path";
import {
  type CsvDatasetSpec,
  type DatasetSpec,
  type IdxDatasetSpec,
  type NamedDatasetSpec,
  type ParallelTextDatasetSpec,
} from "../src/engine/spec.ts";
import { type Dataset, EngineError } from "../src/engine/types.ts";
import {
  type IdxArray,
  idxToDataset,
  makeSyntheticDataset,
  makeTranslationDataset,
  parallelTextDataset,
  parseCsvDataset,
  parseIdx,
  parseParallelText,
} from "../src/engine/data/mod.ts";
import type { z } from "zod";

/** Where {@link resolveDataset} looks for files. */
export interface ResolveDatasetOptions {
  /** Searched first for named datasets (the CLI's `--data-dir`). */
  dataDir?: string;
  /** Folder that relative CSV and IDX paths are relative to (the config file's); default the working directory. */
  baseDir?: string;
}

/** Where each named dataset is installed by a system package, if anywhere. */
const SYSTEM_DIRS: Record<z.infer<typeof NamedDatasetSpec>["name"], string> = {
  "fashion-mnist": "/usr/share/datasets/fashion-mnist",
  "mnist": "/usr/share/datasets/mnist",
};

/** The standard IDX file names shared by MNIST and Fashion-MNIST. */
const IDX_FILES = {
  trainImages: "train-images-idx3-ubyte",
  trainLabels: "train-labels-idx1-ubyte",
  testImages: "t10k-images-idx3-ubyte",
  testLabels: "t10k-labels-idx1-ubyte",
} as const;

/**
 * Resolves any dataset spec the CLI accepts into a dataset.
 * @throws {EngineError} `data_not_found` when files are missing, `invalid_data`
 * when they are corrupt, `invalid_spec` for uploaded (`id`) datasets.
 */
export async function resolveDataset(
  spec: DatasetSpec,
  opts: ResolveDatasetOptions = {},
): Promise<Dataset> {
  if ("id" in spec) {
    throw new EngineError(
      "invalid_spec",
      `dataset {"id": "${spec.id}"} is an uploaded dataset, which only the HTTP API can resolve; ` +
        `use a synthetic, named, csv, idx or parallel_text dataset here`,
    );
  }
  if ("format" in spec) {
    if (spec.format === "parallel_text") {
      return await loadParallelText(spec, opts);
    }
    return spec.format === "csv"
      ? await loadCsv(spec, opts)
      : await loadIdxFiles(spec, opts);
  }
  if (spec.name === "synthetic") return makeSyntheticDataset(spec);
  if (spec.name === "synthetic-translation") {
    return makeTranslationDataset(spec);
  }
  return await loadNamed(spec, opts);
}

function relativeTo(opts: ResolveDatasetOptions, path: string): string {
  return isAbsolute(path) ? path : resolve(opts.baseDir ?? Deno.cwd(), path);
}

/** Reads a file, turning "not there" into `data_not_found`. */
async function readFile(path: string, what: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new EngineError(
        "data_not_found",
        `${what} file not found: ${path}`,
        { cause: e },
      );
    }
    throw e;
  }
}

/** Prefixes an engine error with the file it came from, keeping the original as cause. */
function located(path: string, e: unknown): unknown {
  return e instanceof EngineError
    ? new EngineError(e.code, `${path}: ${e.message}`, { cause: e })
    : e;
}

async function readIdx(path: string, what: string): Promise<IdxArray> {
  const bytes = await readFile(path, what);
  try {
    return await parseIdx(bytes);
  } catch (e) {
    throw located(path, e);
  }
}

async function loadCsv(
  spec: z.infer<typeof CsvDatasetSpec>,
  opts: ResolveDatasetOptions,
): Promise<Dataset> {
  const path = relativeTo(opts, spec.path);
  const text = new TextDecoder().decode(await readFile(path, "CSV"));
  try {
    return parseCsvDataset(text, {
      labelColumn: spec.label_column,
      shape: spec.shape,
    });
  } catch (e) {
    throw located(path, e);
  }
}

async function loadParallelText(
  spec: ParallelTextDatasetSpec,
  opts: ResolveDatasetOptions,
): Promise<Dataset> {
  const parse = async (p: string, what: string) => {
    const path = relativeTo(opts, p);
    const bytes = await readFile(path, what);
    try {
      return parseParallelText(bytes, {
        tokenizer: spec.tokenizer,
        maxLength: spec.max_length,
      });
    } catch (e) {
      throw located(path, e);
    }
  };
  const train = await parse(spec.path, "parallel text");
  const test = spec.test_path === undefined
    ? undefined
    : await parse(spec.test_path, "parallel text test");
  try {
    return parallelTextDataset(train, test, {
      tokenizer: spec.tokenizer,
      maxLength: spec.max_length,
      testFraction: spec.test_fraction,
    });
  } catch (e) {
    throw located(relativeTo(opts, spec.path), e);
  }
}

async function loadIdxFiles(
  spec: z.infer<typeof IdxDatasetSpec>,
  opts: ResolveDatasetOptions,
): Promise<Dataset> {
  if ((spec.test_images === undefined) !== (spec.test_labels === undefined)) {
    throw new EngineError(
      "invalid_spec",
      "test_images and test_labels must be given together, found only " +
        (spec.test_images ? "test_images" : "test_labels"),
    );
  }
  const at = (p: string) => relativeTo(opts, p);
  const optional = (p: string | undefined, what: string) =>
    p === undefined ? undefined : readIdx(at(p), what);
  const [images, labels, testImages, testLabels] = await Promise.all([
    readIdx(at(spec.images), "IDX images"),
    readIdx(at(spec.labels), "IDX labels"),
    optional(spec.test_images, "IDX test images"),
    optional(spec.test_labels, "IDX test labels"),
  ]);
  try {
    return idxToDataset(images, labels, testImages, testLabels);
  } catch (e) {
    throw located(at(spec.images), e);
  }
}

/** Directories searched for a named dataset, in order, without duplicates. */
export function namedDatasetDirs(
  name: z.infer<typeof NamedDatasetSpec>["name"],
  dataDir?: string,
): string[] {
  const dirs: string[] = [];
  for (const base of [dataDir, Deno.env.get("FNGD_DATA_DIR")]) {
    // A data directory may hold several datasets in subfolders, or be one.
    if (base) dirs.push(join(base, name), base);
  }
  dirs.push(SYSTEM_DIRS[name]);
  return [...new Set(dirs)];
}

/** The path of `stem` in `dir`, gzipped or not, or undefined when absent. */
async function findIdx(dir: string, stem: string): Promise<string | undefined> {
  for (const file of [`${stem}.gz`, stem]) {
    const path = join(dir, file);
    try {
      if ((await Deno.stat(path)).isFile) return path;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return undefined;
}

function notFoundMessage(name: string, dirs: string[]): string {
  const install = name === "fashion-mnist"
    ? "install it with `apt-get install dataset-fashion-mnist`, or "
    : "";
  return `dataset "${name}" not found: looked for ${IDX_FILES.trainImages}[.gz] and ` +
    `${IDX_FILES.trainLabels}[.gz] in ${dirs.join(", ")}; ` +
    `${install}put the IDX files in a directory and pass --data-dir or set FNGD_DATA_DIR`;
}

async function loadNamed(
  spec: z.infer<typeof NamedDatasetSpec>,
  opts: ResolveDatasetOptions,
): Promise<Dataset> {
  const dirs = namedDatasetDirs(spec.name, opts.dataDir);
  for (const dir of dirs) {
    const images = await findIdx(dir, IDX_FILES.trainImages);
    const labels = await findIdx(dir, IDX_FILES.trainLabels);
    if (!images || !labels) continue;
    const testImages = await findIdx(dir, IDX_FILES.testImages);
    const testLabels = await findIdx(dir, IDX_FILES.testLabels);
    // The official test split is used only when both of its files are there.
    const withTest = testImages !== undefined && testLabels !== undefined;
    const [x, y, tx, ty] = await Promise.all([
      readIdx(images, "training images"),
      readIdx(labels, "training labels"),
      withTest ? readIdx(testImages, "test images") : undefined,
      withTest ? readIdx(testLabels, "test labels") : undefined,
    ]);
    try {
      return idxToDataset(x, y, tx, ty, { limit: spec.limit });
    } catch (e) {
      throw located(dir, e);
    }
  }
  throw new EngineError("data_not_found", notFoundMessage(spec.name, dirs));
}
