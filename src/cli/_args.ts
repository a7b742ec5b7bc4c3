/**
 * Command-line parsing for fngd: which command the words name, its flags
 * (node:util parseArgs, strict, so a typo is a usage error rather than
 * ignored), and the service's address from flags or the environment.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import type { FngdClient } from "../../sdk/mod.ts";
import { UsageError } from "./_errors.ts";

/** Flag definitions, as node:util parseArgs takes them. */
export type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parsed flag values. */
export type Values = Record<string, string | boolean | undefined>;

/** Flags every command takes. */
export const GLOBAL_OPTIONS = {
  url: { type: "string" },
  "api-key": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies Options;

/** Where the service is when neither --url nor FNGD_URL says: the server's default address. */
export const DEFAULT_URL = "http://127.0.0.1:8787";

/** What a command gets to run with. */
export interface Context {
  /** A client for the service the flags or the environment name. */
  api: FngdClient;
}

/** One command, e.g. `jobs list`. */
export interface Command {
  group: string;
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The usage block `--help` prints. */
  help: string;
  options: Options;
  /** The arguments after the command words: how many, and their names for messages. */
  args: { min: number; max: number; names: string };
  /** Runs the command; resolves with the exit code. */
  run(ctx: Context, values: Values, args: string[]): Promise<number>;
}

/**
 * The first two words of `argv` that are neither flags nor flag values: the
 * command's group and name. Every command's flags are known here, so that a
 * value (`--status running`) is never taken for a word.
 */
export function commandWords(argv: string[], commands: Command[]): string[] {
  const options: Options = { ...GLOBAL_OPTIONS };
  for (const c of commands) Object.assign(options, c.options);
  const { tokens } = parseArgs({
    args: argv,
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  return tokens.flatMap((t) => t.kind === "positional" ? [t.value] : [])
    .slice(0, 2);
}

/** What a usage error in `command` prints: its usage line and where the rest is. */
export function usageOf(command: Command): string {
  const line = command.help.split("\n\n")[0];
  return `${line}\n(fngd ${command.group} ${command.name} --help says more)`;
}

/** `argv` parsed strictly for `command`: its flag values and its arguments after the command words. */
export function parseCommand(
  argv: string[],
  command: Command,
): { values: Values; args: string[] } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...GLOBAL_OPTIONS, ...command.options },
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    // node's message goes on about `--` for positionals; its first sentence says it.
    const message = (err as Error).message.split(". ")[0];
    throw new UsageError(message, usageOf(command));
  }
  const values = parsed.values as Values;
  const args = parsed.positionals.slice(2);
  if (!values.help) {
    const { min, max, names } = command.args;
    if (args.length < min) {
      throw new UsageError(
        `${command.group} ${command.name} needs ${names}`,
        usageOf(command),
      );
    }
    if (args.length > max) {
      throw new UsageError(
        `unexpected argument ${JSON.stringify(args[max])}`,
        usageOf(command),
      );
    }
  }
  return { values, args };
}

/** The service's URL and key: flags first, then FNGD_URL / FNGD_API_KEY, then the default address. */
export function connection(
  values: Values,
  env: (name: string) => string | undefined,
): { baseUrl: string; apiKey?: string } {
  const baseUrl = str(values, "url") || env("FNGD_URL") || DEFAULT_URL;
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new UsageError(`not a URL: ${JSON.stringify(baseUrl)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`the service URL must be http or https: ${baseUrl}`);
  }
  const apiKey = str(values, "api-key") || env("FNGD_API_KEY") || undefined;
  return { baseUrl, apiKey };
}

/** A string flag's value, if given. */
export function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

/** A positive integer flag's value, if given. */
export function positiveInt(
  values: Values,
  name: string,
  usage?: string,
): number | undefined {
  const raw = str(values, name);
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) {
    throw new UsageError(
      `--${name} must be a positive integer, got ${JSON.stringify(raw)}`,
      usage,
    );
  }
  return Number(raw);
}
