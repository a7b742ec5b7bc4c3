/**
 * `deno task train --config job.json [--backend wasm|cpu|tensorflow|webgpu]
 * [--data-dir DIR] [--save-model DIR] [--threads N]`: trains with the engine and no
 * database, printing one JSON event per line in the API's event shape.
 */
import { parseArgs } from "node:util";
import { dirname, join, resolve } from "node:path";
import {
  BACKEND_NAMES,
  type BackendName,
  EngineError,
  initBackend,
  JobSpec,
  train,
} from "../engine/mod.ts";
import { formatIssues } from "../engine/format_issues.ts";
import { resolveDataset } from "../../workers/resolve_dataset.ts";

const USAGE =
  "usage: deno task train --config job.json [--backend wasm|cpu|tensorflow|webgpu] [--data-dir DIR] [--save-model DIR] [--threads N]";

/** A CLI failure with the message to print; exit code 2 for usage errors, 1 otherwise. */
class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

async function readConfig(path: string): Promise<JobSpec> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new CliError(`cannot read config ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CliError(
      `config ${path} is not valid JSON: ${(err as Error).message}`,
    );
  }
  const parsed = JobSpec.safeParse(raw);
  if (!parsed.success) {
    throw new CliError(
      `invalid config ${path}:\n${formatIssues(parsed.error)}`,
    );
  }
  return parsed.data;
}

async function main(args: string[]): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: "string" },
        backend: { type: "string", default: "wasm" },
        "data-dir": { type: "string" },
        "save-model": { type: "string" },
        threads: { type: "string", default: "1" },
        help: { type: "boolean" },
      },
    }));
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n${USAGE}`, 2);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.config) throw new CliError(`--config is required\n${USAGE}`, 2);
  const backend = values.backend as BackendName;
  if (!BACKEND_NAMES.includes(backend)) {
    throw new CliError(
      `--backend must be one of ${
        BACKEND_NAMES.join(", ")
      }, got ${values.backend}`,
      2,
    );
  }
  const threads = Number(values.threads);
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
    throw new CliError(
      `--threads must be an integer from 1 to 64, got ${values.threads}`,
      2,
    );
  }
  const configPath = resolve(values.config);
  const spec = await readConfig(configPath);
  const data = await resolveDataset(spec.dataset, {
    dataDir: values["data-dir"],
    baseDir: dirname(configPath),
  });
  await initBackend(backend);
  let seq = 0;
  const saveDir = values["save-model"];
  await train(spec, data, {
    threads,
    onEvent: (e) => {
      seq += 1;
      console.log(
        JSON.stringify({
          seq,
          type: e.type,
          created_at: new Date().toISOString(),
          data: e.data,
        }),
      );
    },
    saveModel: saveDir
      ? async (artifacts) => {
        await Deno.mkdir(saveDir, { recursive: true });
        await Deno.writeTextFile(
          join(saveDir, "model.json"),
          JSON.stringify(artifacts.modelJson),
        );
        await Deno.writeFile(
          join(saveDir, "weights.bin"),
          artifacts.weightData,
        );
      }
      : undefined,
  });
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (err) {
    if (err instanceof CliError) {
      console.error(`error: ${err.message}`);
      Deno.exit(err.exitCode);
    }
    if (err instanceof EngineError) {
      console.error(`error (${err.code}): ${err.message}`);
      Deno.exit(1);
    }
    throw err;
  }
}
