/**
 * Connection loss never crashes a process. While a job trains, every backend
 * of the service's pools (API, worker, heartbeat thread) is terminated over
 * and over with pg_terminate_backend, in the middle of statements. The
 * service runs as in production (src/main.ts: API + supervisor + worker).
 * Before the fix, postgres.js threw an uncaught TypeError from a ROLLBACK
 * sent on a closed socket, or an unhandled rejection from its array-type
 * lookup at reconnect, and the process died.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import {
  getJob,
  isTerminalStatus,
  type JobRow,
  listEpochMetrics,
  listJobEvents,
} from "../db/mod.ts";
import { DEFAULT_TENANT } from "../routes/_auth.ts";
import { createTestDb } from "./_db.ts";
import { spawnDeno, waitFor } from "./_process.ts";

const EPOCHS = 40;

/** FNGD on a synthetic MLP, long enough (~10 s here) to live through the storm. */
const SPEC = {
  model: {
    input_shape: [32],
    layers: [
      { type: "dense", units: 64, activation: "relu" },
      { type: "dense", units: 5 },
    ],
  },
  dataset: { name: "synthetic", samples: 2048, features: 32, classes: 5 },
  optimizer: { name: "fngd", lr: 0.05, momentum: 0.9, damping: 1.0 },
  epochs: EPOCHS,
  batch_size: 32,
  seed: 5,
  validation_split: 0.1,
};

Deno.test({
  name:
    "terminating every backend mid-statement, again and again, crashes no process and loses or repeats no event",
  ignore: !Deno.env.get("DATABASE_URL"), // pg_terminate_backend needs a real server
  async fn() {
    const t = await createTestDb();
    const dbName = new URL(t.url).pathname.slice(1);
    const admin = postgres(t.url, { max: 1, onnotice: () => {} });
    const service = spawnDeno(["run", "-A", "src/main.ts"], {
      DATABASE_URL: t.url,
      DATA_DIR: t.dataDir,
      HOST: "127.0.0.1",
      PORT: "0",
      WORKERS: "1",
      API_KEYS: "",
      LEASE_SECONDS: "30",
      FNGD_BACKEND: "wasm",
    });
    let serviceExited = false;
    service.child.status.then(() => serviceExited = true);
    try {
      const line = await service.waitForLine(
        (l) => l.startsWith("listening on "),
        60_000,
      );
      const base = line.slice("listening on ".length).trim();
      const created = await fetch(`${base}/v1/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(SPEC),
      });
      assert.equal(created.status, 201, await created.clone().text());
      const jobId = (await created.json()).id as string;
      const running = await waitFor(
        async () => {
          const job = await getJob(t.db, DEFAULT_TENANT, jobId);
          return job?.status === "running" ? job : undefined;
        },
        30_000,
        "the job to start",
      );

      // The storm: terminate every backend of the service, at random
      // intervals, while the API also serves reads and writes.
      let terminations = 0;
      let apiAnswers = 0;
      const statuses = new Map<number, number>();
      const stormUntil = Date.now() + 8000;
      const killer = (async () => {
        while (Date.now() < stormUntil) {
          const killed = await admin`
            select pg_terminate_backend(pid) from pg_stat_activity
            where datname = ${dbName} and pid <> pg_backend_pid()
              and application_name = 'fngd'`;
          terminations += killed.length;
          await new Promise((r) => setTimeout(r, 20 + Math.random() * 180));
        }
      })();
      const client = (async () => {
        while (Date.now() < stormUntil) {
          const res = await fetch(`${base}/v1/jobs/${jobId}`);
          await res.body?.cancel();
          apiAnswers++;
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          assert.ok(
            res.status === 200 || res.status === 503,
            `GET answered ${res.status}`,
          );
          await new Promise((r) => setTimeout(r, 30));
        }
      })();
      await Promise.all([killer, client]);
      assert.ok(terminations >= 30, `only ${terminations} terminations`);
      assert.ok(!serviceExited, `the service died:\n${service.output()}`);

      const done = await waitFor<JobRow>(
        async () => {
          const job = await getJob(t.db, DEFAULT_TENANT, jobId);
          return job && isTerminalStatus(job.status) ? job : undefined;
        },
        120_000,
        "the job to finish",
      );
      assert.equal(done.status, "succeeded", service.output());
      assert.equal(done.attempts, 1, "finished in the attempt it started in");
      assert.equal(done.lockedBy, running.lockedBy, "by the same worker");
      assert.ok(!serviceExited, `the service died:\n${service.output()}`);
      assert.doesNotMatch(service.output(), /worker \d+ \(pid \d+\) exited/);

      const events = await listJobEvents(t.db, jobId, { limit: 100_000 });
      assert.deepEqual(
        events.map((e) => e.seq),
        events.map((_, i) => i + 1),
        "seqs are gap-free",
      );
      const epochs = events.filter((e) => e.type === "epoch")
        .map((e) => e.data.epoch);
      assert.deepEqual(
        epochs,
        Array.from({ length: EPOCHS }, (_, i) => i + 1),
        "every epoch event once, in order",
      );
      const checkpoints = events.filter((e) => e.type === "checkpoint");
      assert.equal(checkpoints.length, EPOCHS, "no checkpoint event twice");
      const steps = events.filter((e) => e.type === "step")
        .map((e) => `${e.data.epoch}:${e.data.step}`);
      assert.equal(new Set(steps).size, steps.length, "no step event twice");
      assert.deepEqual(
        events.filter((e) => e.type === "status").map((e) => e.data.status),
        ["queued", "running", "succeeded"],
      );
      assert.equal((await listEpochMetrics(t.db, jobId)).length, EPOCHS);
      console.log(
        `${terminations} backend terminations, ${apiAnswers} API answers ${
          JSON.stringify(Object.fromEntries(statuses))
        }, ${events.length} events, 0 duplicates, 0 crashes`,
      );
    } finally {
      await service.stop();
      await admin.end({ timeout: 5 });
      await t.close();
    }
  },
});
