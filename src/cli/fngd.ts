/**
 * `deno task fngd`: the training service from a terminal. Submit, list,
 * inspect, watch and cancel jobs, download models, upload datasets; every
 * request goes through the SDK (sdk/), so this file and its helpers in
 * src/cli/_*.ts import nothing of the server, and `deno compile` makes one
 * binary of them.
 */
import { createFngdClient } from "../../sdk/mod.ts";
import {
  type Command,
  commandWords,
  connection,
  type Context,
  DEFAULT_URL,
  parseCommand,
  type Values,
} from "./_args.ts";
import { DATASET_COMMANDS } from "./_datasets.ts";
import { describeError, EXIT, UsageError } from "./_errors.ts";
import { JOB_COMMANDS } from "./_jobs.ts";

const COMMANDS: Command[] = [...JOB_COMMANDS, ...DATASET_COMMANDS];

function commandList(group?: string): string {
  const shown = COMMANDS.filter((c) => !group || c.group === group);
  const names = shown.map((c) => `${c.group} ${c.name}`);
  const width = Math.max(...names.map((n) => n.length));
  return shown.map((c, i) => `  ${names[i].padEnd(width)}  ${c.summary}`)
    .join("\n");
}

const USAGE = `usage: fngd <command> [flags]

Submits, watches and cancels training jobs on an FNGD service.

commands:
${commandList()}

flags for every command:
  --url URL      the service (default $FNGD_URL, else ${DEFAULT_URL})
  --api-key KEY  its API key (default $FNGD_API_KEY)
  -h, --help     this text; fngd jobs create --help for a command's

exit codes: 0 ok, 1 the service refused (its problem is printed) or is
unreachable, or a file cannot be read, 2 usage error, 3 the watched job
failed, 4 it was cancelled, 130 interrupted`;

/** Runs the command `argv` names, or explains why not; resolves with the exit code. */
async function main(argv: string[]): Promise<number> {
  let baseUrl: string | undefined;
  try {
    const { command, values, args } = resolve(argv);
    if (!command) return EXIT.ok;
    const conn = connection(values, (n) => Deno.env.get(n));
    baseUrl = conn.baseUrl;
    const ctx: Context = { api: createFngdClient(conn) };
    return await command.run(ctx, values, args);
  } catch (err) {
    const { lines, exitCode } = describeError(err, baseUrl);
    for (const line of lines) console.error(line);
    return exitCode;
  }
}

/**
 * The command `argv` names with its flags and arguments; no command once
 * help has been printed.
 */
function resolve(
  argv: string[],
): { command?: Command; values: Values; args: string[] } {
  const [group, name] = commandWords(argv, COMMANDS);
  const wantsHelp = argv.some((a) => a === "--help" || a === "-h");
  const none = { values: {}, args: [] };
  if (!group) {
    if (!wantsHelp) throw new UsageError("no command given", USAGE);
    console.log(USAGE);
    return none;
  }
  if (!COMMANDS.some((c) => c.group === group)) {
    throw new UsageError(`unknown command ${JSON.stringify(group)}`, USAGE);
  }
  const command = COMMANDS.find((c) => c.group === group && c.name === name);
  if (!command) {
    const groupUsage = `usage: fngd ${group} <command> [flags]\n\n${
      commandList(group)
    }`;
    if (!name && wantsHelp) {
      console.log(groupUsage);
      return none;
    }
    throw new UsageError(
      name
        ? `unknown command ${JSON.stringify(`${group} ${name}`)}`
        : `${group} needs a command`,
      groupUsage,
    );
  }
  const { values, args } = parseCommand(argv, command);
  if (values.help) {
    console.log(command.help);
    return none;
  }
  return { command, values, args };
}

if (import.meta.main) Deno.exit(await main(Deno.args));
