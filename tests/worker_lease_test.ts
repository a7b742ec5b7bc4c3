/**
 * Leases under long synchronous steps, and fencing: one job never runs on two
 * workers, and a worker that lost its lease writes nothing more.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import {
  claimNextJob,
  createJob,
  getJob,
  getLatestCheckpoint,
  listEpochMetrics,
  listJobEvents,
} from "../db/mod.ts";
import { createTestDb } from "./_db.ts";
import { startWorker, untilTerminal } from "./_worker.ts";
import { waitFor } from "./_process.ts";

/**
 * One 2048-sample batch per epoch, re-solved every epoch: each step builds
 * two 2048 x 2048 Gram matrices and factors them in float64, about 3 s of
 * synchronous work here, three times the 1 s lease. The damping is small so
 * that the solves factor (Cholesky): at damping 1 conjugate gradients solve
 * them in a fifth of the time (smw.ts, chooseSmwSolver).
 */
const LONG_STEPS = {
  model: {
    input_shape: [8],
    layers: [
      { type: "dense", units: 16, activation: "relu" },
      { type: "dense", units: 2 },
    ],
  },
  dataset: { name: "synthetic", samples: 2048, features: 8, classes: 2 },
  optimizer: { name: "fngd", lr: 0.05, damping: 1e-4, refresh_every: 1 },
  epochs: 3,
  batch_size: 2048,
  seed: 1,
  validation_split: 0,
};

Deno.test("steps three times longer than the lease never give the job to a second worker", async () => {
  const t = await createTestDb();
  const workers = [
    startWorker(t, { LEASE_SECONDS: "1" }),
    startWorker(t, { LEASE_SECONDS: "1" }),
  ];
  try {
    const { job } = await createJob(t.db, { tenant: "t", spec: LONG_STEPS });
    const done = await untilTerminal(t, job.id, 120_000);
    const output = workers.map((w) => w.output()).join("\n");
    assert.equal(done.status, "succeeded", output);
    assert.equal(done.attempts, 1, `claimed more than once:\n${output}`);
    assert.equal(output.match(/claimed job/g)?.length, 1, output);
    const events = await listJobEvents(t.db, job.id, { limit: 1000 });
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_, i) => i + 1),
    );
    assert.deepEqual(
      events.filter((e) => e.type === "status").map((e) => e.data.status),
      ["queued", "running", "succeeded"],
    );
    assert.deepEqual(
      events.filter((e) => e.type === "epoch").map((e) => e.data.epoch),
      [1, 2, 3],
    );
    const longest = Math.max(
      ...events.filter((e) => e.type === "epoch").map((e) =>
        e.data.seconds as number
      ),
    );
    assert.ok(
      longest > 1.5,
      `a step should outlast the lease, took ${longest} s`,
    );
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await t.close();
  }
});

Deno.test("a worker whose lease is taken stops within a step and writes nothing after", async () => {
  const t = await createTestDb();
  const admin = postgres(t.url, { max: 1, onnotice: () => {} });
  const worker = startWorker(t, { LEASE_SECONDS: "30" });
  try {
    const { job } = await createJob(t.db, {
      tenant: "t",
      spec: { ...LONG_STEPS, epochs: 50 },
    });
    await waitFor(
      async () =>
        (await listEpochMetrics(t.db, job.id)).length >= 1 || undefined,
      60_000,
      "the first epoch",
    );
    // Fault injection: expire the lease under the running worker, as a
    // heartbeat that never arrived would, and let a second worker claim it.
    // The running worker's heartbeat may renew the lease between the two
    // statements (a loaded machine); then expire it again.
    let thief: Awaited<ReturnType<typeof claimNextJob>> = undefined;
    for (let tries = 0; tries < 5 && !thief; tries++) {
      await admin`update jobs set lease_until = now() - interval '1 second'
        where id = ${job.id}`;
      thief = await claimNextJob(t.db, "thief", 300);
    }
    assert.equal(thief?.attempts, 2);
    const stolenAt = {
      events: (await listJobEvents(t.db, job.id, { limit: 1000 })).length,
      metrics: (await listEpochMetrics(t.db, job.id)).length,
      checkpoint: (await getLatestCheckpoint(t.db, job.id))?.epoch,
    };
    // The step in flight takes ~3 s; the worker's next write finds the lease
    // gone (or its heartbeat does first), and it stops.
    await waitFor(
      () =>
        Promise.resolve(/lease lost|: lost/.test(worker.output()) || undefined),
      30_000,
      "the worker to notice",
    );
    await new Promise((r) => setTimeout(r, 4000)); // a step and more
    const after = await listJobEvents(t.db, job.id, { limit: 1000 });
    assert.equal(after.length, stolenAt.events, "no event after the steal");
    assert.deepEqual(after.at(-1)?.data, {
      status: "running",
      attempt: 2,
      worker: "thief",
    });
    assert.equal(
      (await listEpochMetrics(t.db, job.id)).length,
      stolenAt.metrics,
    );
    assert.equal(
      (await getLatestCheckpoint(t.db, job.id))?.epoch,
      stolenAt.checkpoint,
    );
    const row = await getJob(t.db, "t", job.id);
    assert.equal(row?.status, "running");
    assert.equal(row?.lockedBy, "thief");
  } finally {
    await worker.stop();
    await admin.end({ timeout: 5 });
    await t.close();
  }
});
