/**
 * PostgreSQL restarts in the middle of training lose nothing: the worker's
 * writes wait for the server to come back, the run goes on in the same
 * attempt, and every epoch, event and coefficient ends up in the database.
 * It restarts the server, so it runs only against a local cluster it may
 * restart (DATABASE_URL on loopback, pg_ctlcluster present, running as root).
 */
import assert from "node:assert/strict";
import {
  createJob,
  getJob,
  isTerminalStatus,
  type JobRow,
  listEpochMetrics,
  listJobEvents,
} from "../db/mod.ts";
import { createTestDb } from "./_db.ts";
import { spawnDeno, waitFor } from "./_process.ts";

const PG_CTLCLUSTER = "/usr/bin/pg_ctlcluster";

function canRestartLocalPostgres(): boolean {
  const url = Deno.env.get("DATABASE_URL");
  if (!url) return false;
  const host = new URL(url).hostname;
  if (host !== "127.0.0.1" && host !== "localhost") return false;
  try {
    Deno.statSync(PG_CTLCLUSTER);
    return Deno.uid() === 0;
  } catch {
    return false;
  }
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) +
    new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed: ${text}`);
  return text;
}

async function restartPostgres(): Promise<void> {
  const version =
    [...Deno.readDirSync("/etc/postgresql")].map((e) => e.name)[0];
  await run(PG_CTLCLUSTER, [
    "--skip-systemctl-redirect",
    version,
    "main",
    "restart",
  ]);
  await waitFor(
    async () =>
      (await new Deno.Command("pg_isready", { args: ["-q", "-h", "127.0.0.1"] })
        .output()).success || undefined,
    30_000,
    "PostgreSQL to accept connections again",
    200,
  );
}

/** Retries through the seconds when the server is restarting. */
async function tolerant<T>(
  probe: () => Promise<T | undefined>,
): Promise<T | undefined> {
  try {
    return await probe();
  } catch {
    return undefined;
  }
}

Deno.test({
  name:
    "PostgreSQL restarts mid-training lose no epoch, event or coefficient, and kill no worker",
  ignore: !canRestartLocalPostgres(),
  async fn() {
    const t = await createTestDb();
    // As in production: a supervisor, which would restart a crashed worker
    // (and then spend an attempt, which the assertions below catch).
    const worker = spawnDeno(["run", "-A", "src/supervisor_main.ts"], {
      DATABASE_URL: t.url,
      DATA_DIR: t.dataDir,
      WORKERS: "1",
      LEASE_SECONDS: "30",
      FNGD_BACKEND: "wasm",
    });
    const epochs = 100; // ~20 s here: three restarts take ~10 s
    const restarts = 3;
    const samples = 8192;
    try {
      const { job } = await createJob(t.db, {
        tenant: "t",
        spec: {
          model: {
            input_shape: [16],
            layers: [{ type: "dense", units: 64, activation: "relu" }, {
              type: "dense",
              units: 4,
            }],
          },
          dataset: {
            name: "synthetic",
            samples,
            features: 16,
            classes: 4,
            seed: 3,
          },
          optimizer: { name: "fngd", lr: 0.05 },
          epochs,
          batch_size: 64,
          seed: 7,
          validation_split: 0.1,
        },
      });
      // Several restarts, each after one more epoch: a worker once died on
      // the third of several.
      let atRestart = 0;
      const restartedAt: number[] = [];
      for (let r = 0; r < restarts; r++) {
        const after = atRestart + 1;
        atRestart = await waitFor(
          () =>
            tolerant(async () => {
              const metrics = await listEpochMetrics(t.db, job.id);
              return metrics.length >= after ? metrics.length : undefined;
            }),
          60_000,
          `${after} epochs`,
          100,
        );
        await restartPostgres();
        restartedAt.push(atRestart);
      }
      const done = await waitFor<JobRow>(
        () =>
          tolerant(async () => {
            const j = await getJob(t.db, "t", job.id);
            return j && isTerminalStatus(j.status) ? j : undefined;
          }),
        120_000,
        "the job to finish after the restart",
        200,
      );
      assert.equal(done.status, "succeeded", worker.output());
      // Writes waited for the server instead of failing the run: no attempt was spent.
      assert.equal(done.attempts, 1, worker.output());
      const metrics = await listEpochMetrics(t.db, job.id);
      assert.ok(
        atRestart < epochs,
        `restarts must happen mid-run; they came after epochs ${restartedAt}`,
      );
      assert.deepEqual(
        metrics.map((m) => m.epoch),
        Array.from({ length: epochs }, (_, i) => i + 1),
      );
      const events = await listJobEvents(t.db, job.id, { limit: 10_000 });
      assert.deepEqual(
        events.map((e) => e.seq),
        events.map((_, i) => i + 1),
        "seqs stay gap-free",
      );
      assert.deepEqual(
        events.filter((e) => e.type === "epoch").map((e) => e.data.epoch),
        Array.from({ length: epochs }, (_, i) => i + 1),
        "each epoch event once",
      );
      assert.doesNotMatch(worker.output(), /exited with/, "no worker died");
      console.log(`restarts after epochs ${restartedAt} of ${epochs}`);
      const batches = Math.ceil((samples - Math.floor(samples * 0.1)) / 64);
      const result = done.result as { counters: { solves: number } };
      assert.equal(
        result.counters.solves,
        batches * 2,
        "solves happen in epoch 1 only",
      );
    } finally {
      await worker.stop();
      await t.close();
    }
  },
});
