/** `fngd jobs ...`: create, list, get, watch, cancel, and download a job's model. */
import type { Job, JobSpecInput, JobStatus } from "../../sdk/mod.ts";
import { type Command, positiveInt, str, usageOf } from "./_args.ts";
import { CliError, EXIT, UsageError } from "./_errors.ts";
import { datasetName, jobSummary, num, resultLine, when } from "./_format.ts";
import { table } from "./_table.ts";
import { watchFromCli } from "./_watch.ts";

const STATUSES: readonly JobStatus[] = [
  "queued",
  "running",
  "cancelling",
  "succeeded",
  "failed",
  "cancelled",
];

const JSON_FLAG = { json: { type: "boolean" } } as const;

function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** The job body in `path`, parsed; the service validates it. */
async function readSpec(path: string): Promise<JobSpecInput> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new CliError(`cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError(`${path} is not JSON: ${(err as Error).message}`);
  }
}

const create: Command = {
  group: "jobs",
  name: "create",
  summary: "submit the job body in FILE (JSON); --watch follows it",
  help: `usage: fngd jobs create FILE [--watch] [--idempotency-key KEY] [--json]

Submits the job body in FILE (the same JSON as POST /v1/jobs and
deno task train --config) and prints the new job's id.

  --watch                follow the job until it finishes (as fngd jobs watch);
                         exit 0 if it succeeds, 3 if it fails, 4 if cancelled
  --idempotency-key KEY  a retry with the same key returns the first job
                         instead of creating another
  --json                 print the created job as JSON`,
  options: {
    watch: { type: "boolean" },
    "idempotency-key": { type: "string" },
    ...JSON_FLAG,
  },
  args: { min: 1, max: 1, names: "FILE" },
  async run(ctx, values, [file]) {
    if (values.json && values.watch) {
      throw new UsageError(
        "--json and --watch do not go together",
        usageOf(this),
      );
    }
    const spec = await readSpec(file);
    const job = await ctx.api.jobs.create(spec, {
      idempotencyKey: str(values, "idempotency-key"),
    });
    if (values.json) {
      printJson(job);
      return EXIT.ok;
    }
    console.log(`created job ${job.id} (${job.status}): ${jobSummary(job)}`);
    if (!values.watch) return EXIT.ok;
    return await watchFromCli(ctx.api, job.id);
  },
};

/** The epoch a job is at: `2/10`, or `-` before its first step. */
function progressCell(job: Job): string {
  const epochs = job.spec.epochs;
  if (job.status === "succeeded") return `${epochs}/${epochs}`;
  const done = job.latest_metrics?.epoch ?? 0;
  if (job.progress) return `${job.progress.epoch}/${epochs}`;
  return done ? `${done}/${epochs}` : "-";
}

/** The latest validation metric worth a column: accuracy, else reconstruction error or loss. */
function metricCell(job: Job): string {
  const m = job.latest_metrics;
  if (!m) return "-";
  if (m.val_accuracy !== null) return `acc ${num(m.val_accuracy)}`;
  if (m.val_reconstruction_error !== undefined) {
    return `rec ${num(m.val_reconstruction_error)}`;
  }
  return `loss ${num(m.val_loss)}`;
}

const list: Command = {
  group: "jobs",
  name: "list",
  summary: "your jobs, newest first",
  help:
    `usage: fngd jobs list [--status STATUS] [--limit N] [--after ID] [--json]

  --status STATUS  only jobs in this status: ${STATUSES.join(", ")}
  --limit N        at most N jobs (1-100, default 20)
  --after ID       the page after job ID (the last id of the previous page)
  --json           print the page as JSON ({"data": [...], "has_more"})`,
  options: {
    status: { type: "string" },
    limit: { type: "string" },
    after: { type: "string" },
    ...JSON_FLAG,
  },
  args: { min: 0, max: 0, names: "" },
  async run(ctx, values) {
    const status = str(values, "status");
    if (status !== undefined && !STATUSES.includes(status as JobStatus)) {
      throw new UsageError(
        `--status must be one of ${STATUSES.join(", ")}, got ${
          JSON.stringify(status)
        }`,
        usageOf(this),
      );
    }
    const page = await ctx.api.jobs.list({
      status: status as JobStatus | undefined,
      limit: positiveInt(values, "limit", usageOf(this)),
      after: str(values, "after"),
    });
    if (values.json) {
      printJson(page);
      return EXIT.ok;
    }
    if (page.data.length === 0) {
      console.log(status ? `no ${status} jobs` : "no jobs");
      return EXIT.ok;
    }
    console.log(table(
      [
        { header: "ID" },
        { header: "STATUS" },
        { header: "OPTIMIZER" },
        { header: "DATASET" },
        { header: "EPOCH", align: "right" },
        { header: "VALIDATION" },
        { header: "CREATED" },
      ],
      page.data.map((job) => [
        job.id,
        job.status,
        job.spec.optimizer.name,
        datasetName(job),
        progressCell(job),
        metricCell(job),
        when(job.created_at),
      ]),
    ));
    if (page.has_more) {
      console.error(
        `more: fngd jobs list --after ${page.data.at(-1)!.id}${
          status ? ` --status ${status}` : ""
        }`,
      );
    }
    return EXIT.ok;
  },
};

/** One job as `key: value` lines. */
function describeJob(job: Job): string {
  const rows: [string, string][] = [
    ["id", job.id],
    ["status", job.status],
    ["job", jobSummary(job)],
    ["attempts", `${job.attempts} of ${job.max_attempts}`],
    ["created", when(job.created_at)],
    ["started", when(job.started_at)],
    ["finished", when(job.finished_at)],
  ];
  if (job.progress) {
    const p = job.progress;
    rows.push([
      "progress",
      `epoch ${p.epoch}/${job.spec.epochs}, step ${p.step}/${p.steps}, loss ${
        num(p.loss)
      }, ${p.phase}`,
    ]);
  }
  const m = job.latest_metrics;
  if (m) {
    rows.push([
      "last epoch",
      `${m.epoch}: train_loss ${num(m.train_loss)}, val_loss ${
        num(m.val_loss)
      }, val_accuracy ${num(m.val_accuracy)}`,
    ]);
  }
  if (job.result) rows.push(["result", resultLine(job.result)]);
  if (job.error) {
    rows.push(["error", `${job.error.code}: ${job.error.message}`]);
  }
  if (job.cancel_requested_at) {
    rows.push(["cancel requested", when(job.cancel_requested_at)]);
  }
  if (job.comparison_id) rows.push(["comparison", job.comparison_id]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  return rows.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`).join("\n");
}

const get: Command = {
  group: "jobs",
  name: "get",
  summary: "one job: status, progress, metrics, error",
  help: `usage: fngd jobs get ID [--json]

  --json  print the job as the API returns it`,
  options: { ...JSON_FLAG },
  args: { min: 1, max: 1, names: "ID" },
  async run(ctx, values, [id]) {
    const job = await ctx.api.jobs.get(id);
    if (values.json) printJson(job);
    else console.log(describeJob(job));
    return EXIT.ok;
  },
};

const watch: Command = {
  group: "jobs",
  name: "watch",
  summary: "follow a job until it finishes (bars on a terminal)",
  help: `usage: fngd jobs watch ID

Follows the job from its first event until it finishes: on a terminal an
epoch bar and a step bar (loss, phase, ETA); otherwise plain lines. Prints one
line per finished epoch and per status change, and resumes after a dropped
connection. Ctrl-C stops watching, not the job.

exit: 0 succeeded, 3 failed, 4 cancelled, 1 the service refused or is
unreachable, 130 interrupted`,
  options: {},
  args: { min: 1, max: 1, names: "ID" },
  run: (ctx, _values, [id]) => watchFromCli(ctx.api, id),
};

const cancel: Command = {
  group: "jobs",
  name: "cancel",
  summary: "request cancellation (a running job stops at its next step)",
  help: `usage: fngd jobs cancel ID [--json]

Requests cancellation; a queued job is cancelled at once, a running one stops
at its next step (fngd jobs watch ID waits for it). Cancelling a finished job
changes nothing.

  --json  print the job after the request`,
  options: { ...JSON_FLAG },
  args: { min: 1, max: 1, names: "ID" },
  async run(ctx, values, [id]) {
    const job = await ctx.api.jobs.cancel(id);
    if (values.json) printJson(job);
    else console.log(`job ${job.id}: ${job.status}`);
    return EXIT.ok;
  },
};

const model: Command = {
  group: "jobs",
  name: "model",
  summary: "download the trained model: DIR/model.json + DIR/weights.bin",
  help: `usage: fngd jobs model ID --out DIR

Writes the finished job's model as DIR/model.json and DIR/weights.bin (DIR is
created if needed), the manifest pointing at the weights beside it:
tf.loadLayersModel("file://DIR/model.json") loads a TF.js layers model.`,
  options: { out: { type: "string", short: "o" } },
  args: { min: 1, max: 1, names: "ID" },
  async run(ctx, values, [id]) {
    const out = str(values, "out");
    if (!out) throw new UsageError("--out DIR is required", usageOf(this));
    const files = await ctx.api.models.download(id, out);
    const bytes = (await Deno.stat(files.weights)).size;
    console.log(`wrote ${files.modelJson}`);
    console.log(`wrote ${files.weights} (${bytes} bytes)`);
    return EXIT.ok;
  },
};

/** Every `fngd jobs` command. */
export const JOB_COMMANDS: Command[] = [
  create,
  list,
  get,
  watch,
  cancel,
  model,
];
