/** The supervisor with real child processes: GPU pinning, restarts with backoff, clean stop. */
import assert from "node:assert/strict";
import { startSupervisor } from "../workers/supervisor.ts";

/** A stand-in worker: logs "start <gpu> <pid>", then dies or waits for SIGTERM. */
const FAKE_WORKER = `
const out = Deno.env.get("OUT");
const line = (s) => Deno.writeTextFileSync(out, s + "\\n", { append: true });
line("start " + (Deno.env.get("CUDA_VISIBLE_DEVICES") ?? "-") + " " + Deno.pid + " " + Date.now());
if (Deno.env.get("MODE") === "crash") Deno.exit(3);
Deno.addSignalListener("SIGTERM", () => { line("stop " + Deno.pid); Deno.exit(0); });
setInterval(() => {}, 1000);
`;

async function fakeWorker(): Promise<{ entry: URL; out: string }> {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/fake_worker.js`;
  await Deno.writeTextFile(path, FAKE_WORKER);
  return { entry: new URL(`file://${path}`), out: `${dir}/log.txt` };
}

const readLines = async (path: string) =>
  (await Deno.readTextFile(path).catch(() => "")).split("\n").filter(Boolean);

async function until(pred: () => Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("supervisor gives each worker its own GPU and stops them all with SIGTERM", async () => {
  const { entry, out } = await fakeWorker();
  const supervisor = startSupervisor({
    workers: 3,
    gpus: [0, 2, 5],
    env: { OUT: out, MODE: "wait" },
    entry,
    log: () => {},
  });
  await until(async () => (await readLines(out)).length === 3, 30_000);
  const starts = (await readLines(out)).map((l) => l.split(" "));
  assert.deepEqual(starts.map((s) => s[1]).sort(), ["0", "2", "5"]);
  await supervisor.stop();
  const stops = (await readLines(out)).filter((l) => l.startsWith("stop"));
  assert.deepEqual(
    stops.map((l) => l.split(" ")[1]).sort(),
    starts.map((s) => s[2]).sort(),
    "every worker got SIGTERM and exited on its own",
  );
  assert.deepEqual(supervisor.pids(), [undefined, undefined, undefined]);
});

Deno.test("supervisor restarts a dying worker with growing backoff", async () => {
  const { entry, out } = await fakeWorker();
  const supervisor = startSupervisor({
    workers: 1,
    env: { OUT: out, MODE: "crash" },
    entry,
    log: () => {},
    minBackoffMs: 100,
    maxBackoffMs: 400,
  });
  try {
    await until(async () => (await readLines(out)).length >= 4, 60_000);
  } finally {
    await supervisor.stop();
  }
  const times = (await readLines(out)).map((l) => Number(l.split(" ")[3]));
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  assert.ok(supervisor.restarts() >= 3);
  assert.ok(gaps[0] >= 100, `first restart waited ${gaps[0]} ms`);
  assert.ok(
    gaps[2] >= 400,
    `third restart waited ${gaps[2]} ms (backoff capped at 400)`,
  );
  assert.equal(
    new Set((await readLines(out)).map((l) => l.split(" ")[2])).size,
    times.length,
  );
});
