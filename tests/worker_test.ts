/** Real worker processes against a real database: train, cancel, crash and resume. */
import assert from "node:assert/strict";
import {
  createJob,
  getCheckpoint,
  getJob,
  getJobModel,
  getLatestCheckpoint,
  listCheckpoints,
  listEpochMetrics,
  listJobEvents,
  requestCancel,
} from "../db/mod.ts";
import { summarizeJobCoefficients } from "../routes/_coefficient_summary.ts";
import { createTestDb, type TestDb } from "./_db.ts";
import { startWorker, untilTerminal } from "./_worker.ts";
import { waitFor } from "./_process.ts";
import { initBackend, JobSpec, train } from "../src/engine/mod.ts";
import { makeSyntheticDataset } from "../src/engine/data/mod.ts";

/** A small FNGD MLP on seeded synthetic vectors (2 trainable layers). */
function mlpSpec(epochs: number, samples: number, batchSize = 64) {
  return {
    model: {
      input_shape: [16],
      layers: [
        { type: "dense", units: 32, activation: "relu" },
        { type: "dense", units: 4 },
      ],
    },
    dataset: { name: "synthetic", samples, features: 16, classes: 4, seed: 3 },
    optimizer: { name: "fngd", lr: 0.05, momentum: 0.9, damping: 1.0 },
    epochs,
    batch_size: batchSize,
    seed: 7,
    validation_split: 0.1,
  };
}

/** The names of the blobs in `t`'s file store. */
function blobNames(t: TestDb): string[] {
  const root = `${t.dataDir}/blobs`;
  return [...Deno.readDirSync(root)]
    .filter((d) => d.isDirectory && d.name !== "tmp")
    .flatMap((d) =>
      [...Deno.readDirSync(`${root}/${d.name}`)].map((f) => f.name)
    )
    .sort();
}

/** Resolves once the job has written its first epoch event. */
async function waitForFirstEpoch(t: TestDb, jobId: string): Promise<void> {
  await waitFor(
    async () => {
      const events = await listJobEvents(t.db, jobId, { limit: 1000 });
      return events.some((e) => e.type === "epoch") || undefined;
    },
    60_000,
    "the first epoch",
  );
}

Deno.test("a worker process trains a small FNGD job to succeeded", async () => {
  const t = await createTestDb();
  const worker = startWorker(t);
  try {
    const { job } = await createJob(t.db, {
      tenant: "t",
      spec: mlpSpec(3, 512),
    });
    const done = await untilTerminal(t, job.id, 60_000);
    assert.equal(done.status, "succeeded", worker.output());
    assert.equal(done.attempts, 1);

    const metrics = await listEpochMetrics(t.db, job.id);
    assert.deepEqual(metrics.map((m) => m.phase), [
      "inversion",
      "inverse_free",
      "inverse_free",
    ]);
    const batches = metrics[0].steps;
    const { layers } = await summarizeJobCoefficients(t.db, done);
    assert.deepEqual(layers.map((l) => l.batches), [batches, batches]);

    const result = done.result as {
      counters: { solves: number; steps: number };
    };
    assert.equal(result.counters.solves, batches * 2, "solves only in epoch 1");
    assert.equal(result.counters.steps, batches * 3);

    const events = await listJobEvents(t.db, job.id, { limit: 1000 });
    assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1));
    const statuses = events.filter((e) => e.type === "status").map((e) =>
      e.data.status
    );
    assert.deepEqual(statuses, ["queued", "running", "succeeded"]);
    assert.deepEqual(events.at(-1)?.data.result, done.result);
    assert.equal(events.filter((e) => e.type === "epoch").length, 3);
    assert.equal(events.filter((e) => e.type === "coefficients").length, 1);
    // No refresh: the stored vectors are epoch one's, so the API's summary
    // is the optimizer's own `coefficients` event, to the last digit.
    const reported = events.find((e) => e.type === "coefficients")?.data;
    assert.deepEqual(layers, reported?.layers);
    const model = await getJobModel(t.db, job.id);
    assert.ok(model?.weightsSize, "the model's weights went to the blob store");
    assert.equal(await t.blobs.exists(model.weightsSha256!), true);
  } finally {
    await worker.stop();
    await t.close();
  }
});

Deno.test("FNGD_THREADS=2: a worker trains data-parallel to what one thread gets", async () => {
  const t = await createTestDb();
  const worker = startWorker(t, { FNGD_THREADS: "2" });
  try {
    // tanh: a ReLU unit at its kink could send the two orders apart.
    const spec = mlpSpec(3, 512);
    spec.model.layers[0].activation = "tanh";
    const { job } = await createJob(t.db, { tenant: "t", spec });
    const done = await untilTerminal(t, job.id, 60_000);
    assert.equal(done.status, "succeeded", worker.output());
    assert.match(worker.output(), /2 thread\(s\) per job/);
    const events = await listJobEvents(t.db, job.id, { limit: 1000 });
    assert.deepEqual(
      events.filter((e) => e.type === "log").map((e) => e.data.message),
      [],
    );
    await initBackend("wasm");
    const parsed = JobSpec.parse(spec);
    const one = await train(
      parsed,
      makeSyntheticDataset(parsed.dataset as never),
    );
    const result = done.result as unknown as typeof one;
    assert.deepEqual(result.counters, one.counters);
    const [a, b] = [result.final.train_loss, one.final.train_loss];
    assert.ok(Math.abs(a - b) <= 1e-4 * b, `${a} vs ${b}`);
    // The setting reaches the engine: a run it cannot split says so.
    const kfac = await createJob(t.db, {
      tenant: "t",
      spec: { ...mlpSpec(1, 256), optimizer: { name: "kfac", lr: 0.01 } },
    });
    assert.equal(
      (await untilTerminal(t, kfac.job.id, 60_000)).status,
      "succeeded",
    );
    const logs = (await listJobEvents(t.db, kfac.job.id, { limit: 1000 }))
      .filter((e) => e.type === "log").map((e) => e.data.message);
    assert.equal(logs.length, 1);
    assert.match(String(logs[0]), /training on 1 thread, not 2: kfac/);
  } finally {
    await worker.stop();
    await t.close();
  }
});

Deno.test("refresh auto through a worker: refreshes are stored per epoch beside epoch one's, and staleness is reported", async () => {
  const t = await createTestDb();
  const worker = startWorker(t);
  try {
    const spec = mlpSpec(3, 512);
    const { job } = await createJob(t.db, {
      tenant: "t",
      spec: {
        ...spec,
        optimizer: {
          ...spec.optimizer,
          refresh: "auto",
          refresh_threshold: 0.02,
          staleness_samples: 1,
        },
      },
    });
    const done = await untilTerminal(t, job.id, 60_000);
    assert.equal(done.status, "succeeded", worker.output());
    const result = done.result as {
      counters: { solves: number; refreshes: number; steps: number };
    };
    const batches = result.counters.steps / 3;
    const refreshes = result.counters.refreshes;
    assert.ok(refreshes > 0, "the threshold fires on this task");
    assert.equal(result.counters.solves, 2 * batches + refreshes);
    const { layers, history } = await summarizeJobCoefficients(t.db, done);
    assert.deepEqual(layers.map((l) => l.batches), [batches, batches]);
    assert.equal(history[0].epoch, 1);
    assert.equal(history[0].solved, 2 * batches);
    assert.equal(
      history.slice(1).reduce((n, h) => n + h.solved, 0),
      refreshes,
      "every refresh is a stored row of its epoch",
    );
    assert.ok(history.slice(1).every((h) => h.epoch === 2 || h.epoch === 3));
    const events = await listJobEvents(t.db, job.id, { limit: 1000 });
    const staleness = events.filter((e) => e.type === "staleness");
    assert.deepEqual(staleness.map((e) => e.data.epoch), [2, 3]);
    const reported = staleness.flatMap((e) =>
      e.data.layers as { refreshes: number; probes: number }[]
    );
    assert.equal(reported.reduce((n, l) => n + l.refreshes, 0), refreshes);
    assert.ok(reported.every((l) => l.probes === 1));
  } finally {
    await worker.stop();
    await t.close();
  }
});

Deno.test("cancelling a running job stops the worker within a step and ends cancelled", async () => {
  const t = await createTestDb();
  const worker = startWorker(t);
  try {
    const { job } = await createJob(t.db, {
      tenant: "t",
      spec: mlpSpec(1000, 2048),
    });
    await waitForFirstEpoch(t, job.id);
    assert.equal(
      (await requestCancel(t.db, "t", job.id))?.status,
      "cancelling",
    );
    const done = await untilTerminal(t, job.id, 30_000);
    assert.equal(done.status, "cancelled", worker.output());
    const events = await listJobEvents(t.db, job.id, { limit: 10_000 });
    // The worker, the log's only writer while it holds the lease, records
    // the request when its heartbeat sees it, then the outcome.
    assert.deepEqual(
      events.filter((e) => e.type === "status").map((e) => e.data.status),
      ["queued", "running", "cancelling", "cancelled"],
    );
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_, i) => i + 1),
      "gap-free",
    );
    const epochs = events.filter((e) => e.type === "epoch").length;
    assert.ok(epochs < 1000, "training did not run to the end");
  } finally {
    await worker.stop();
    await t.close();
  }
});

Deno.test("a killed worker's job is resumed by another from its checkpoint without re-solving", async () => {
  const t = await createTestDb();
  const first = startWorker(t);
  let second: ReturnType<typeof startWorker> | undefined;
  try {
    const { job } = await createJob(t.db, {
      tenant: "t",
      spec: mlpSpec(12, 8192, 32),
    });
    await waitFor(
      async () => {
        const events = await listJobEvents(t.db, job.id, { limit: 10_000 });
        return events.some((e) => e.type === "checkpoint") || undefined;
      },
      60_000,
      "the first checkpoint",
      10,
    );
    await first.stop("SIGKILL");
    const killed = await getJob(t.db, "t", job.id);
    assert.equal(killed?.status, "running", "killed before the job finished");

    second = startWorker(t);
    const done = await untilTerminal(t, job.id, 90_000);
    assert.equal(done.status, "succeeded", second.output());
    assert.equal(done.attempts, 2);

    const events = await listJobEvents(t.db, job.id, { limit: 10_000 });
    const resumed = events.find((e) =>
      e.type === "log" && "resumed_epoch" in e.data
    );
    assert.ok(resumed, "the second attempt logged its resume point");
    const resumedEpoch = resumed.data.resumed_epoch as number;
    assert.ok(resumedEpoch >= 1);
    const epochOnes = events.filter((e) =>
      e.type === "epoch" && e.data.epoch === 1
    );
    assert.equal(epochOnes.length, 1, "epoch 1 (the inversion) ran once");

    const metrics = await listEpochMetrics(t.db, job.id);
    assert.equal(metrics.length, 12);
    const result = done.result as { counters: { solves: number } };
    assert.equal(
      result.counters.solves,
      metrics[0].steps * 2,
      "no solve after resuming",
    );

    // Checkpoints went through the blob store, the newest CHECKPOINTS_KEPT
    // (default 3) stayed, and every older one (the first worker's included)
    // was collected.
    const checkpoint = await getLatestCheckpoint(t.db, job.id);
    assert.equal(checkpoint?.epoch, 12);
    assert.equal(checkpoint?.weights, null);
    const kept = await Promise.all(
      (await listCheckpoints(t.db, job.id)).map((c) =>
        getCheckpoint(t.db, job.id, c.epoch)
      ),
    );
    assert.deepEqual(kept.map((c) => c!.epoch), [12, 11, 10]);
    const model = await getJobModel(t.db, job.id);
    assert.deepEqual(
      blobNames(t),
      [
        ...new Set([
          ...kept.flatMap((c) => [
            c!.weightsSha256!,
            c!.optimizerSha256!,
            c!.modelWeightsSha256!,
          ]),
          model!.weightsSha256!,
        ]),
      ].sort(),
    );
  } finally {
    await first.stop("SIGKILL");
    await second?.stop();
    await t.close();
  }
});

Deno.test("SIGTERM makes a worker hand its running job back to the queue and exit 0", async () => {
  const t = await createTestDb();
  const worker = startWorker(t);
  try {
    const { job } = await createJob(t.db, {
      tenant: "t",
      spec: mlpSpec(1000, 2048),
    });
    await waitForFirstEpoch(t, job.id);
    const status = await worker.stop("SIGTERM");
    assert.equal(status.code, 0, worker.output());
    const released = await getJob(t.db, "t", job.id);
    assert.equal(released?.status, "queued");
    assert.equal(released?.attempts, 0, "a clean shutdown spends no attempt");
    assert.equal(released?.lockedBy, null);
    const last = (await listJobEvents(t.db, job.id, { limit: 10_000 })).at(-1);
    assert.deepEqual(last?.data, {
      status: "queued",
      reason: "worker_shutdown",
    });
  } finally {
    await worker.stop();
    await t.close();
  }
});

Deno.test("a worker refuses a job above its MAX_JOB_BYTES with too_large, on the first attempt", async () => {
  const t = await createTestDb();
  // Inserted directly, as if admitted by an API with a higher limit.
  const worker = startWorker(t, { MAX_JOB_BYTES: "1MiB" });
  try {
    const { job } = await createJob(t.db, {
      tenant: "t",
      spec: mlpSpec(1, 20_000),
    });
    const done = await untilTerminal(t, job.id, 30_000);
    assert.equal(done.status, "failed", worker.output());
    assert.equal(done.attempts, 1);
    assert.equal(done.error?.code, "too_large");
    assert.match(done.error?.message ?? "", /at most 1 MiB/);
    const events = await listJobEvents(t.db, job.id, { limit: 100 });
    assert.deepEqual(events.map((e) => e.type), [
      "status",
      "status",
      "job_error",
      "status",
    ]);
  } finally {
    await worker.stop();
    await t.close();
  }
});
