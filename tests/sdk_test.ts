/**
 * The SDK (sdk/) against the real API over HTTP: its generated types are
 * current, its calls are typed end to end, and its event stream survives a
 * dropped connection. A worker is simulated by appending events straight to
 * the table, as in api_events_test.ts.
 */
import assert from "node:assert/strict";
import { appendJobEvent } from "../db/mod.ts";
import {
  createFngdClient,
  FngdApiError,
  type JobEvent,
  type JobSpecInput,
  type ReconnectInfo,
} from "../sdk/mod.ts";
import { renderSdkSchema, SDK_SCHEMA } from "../src/sdk_schema.ts";
import { KEY_A, KEY_B, startApi } from "./_api.ts";
import { startTcpProxy } from "./_tcp_proxy.ts";

/**
 * The README's job body, typed as a request: every field with a default may
 * be left out. If the generated types regress (defaults required again), this
 * file stops compiling.
 */
const README_JOB: JobSpecInput = {
  model: {
    input_shape: [8],
    layers: [
      { type: "dense", units: 4, activation: "relu" },
      { type: "dense", units: 3 },
    ],
  },
  dataset: { name: "synthetic", samples: 64, features: 8, classes: 3 },
  optimizer: { name: "fngd", lr: 0.1 },
  epochs: 1,
  batch_size: 16,
};

/** The README's job config, as written there: it must compile as a request. */
const _README_CONFIG: JobSpecInput = {
  model: {
    input_shape: [28, 28, 1],
    layers: [
      {
        type: "conv2d",
        filters: 16,
        kernel_size: 3,
        activation: "relu",
      },
      { type: "max_pool2d", pool_size: 2 },
      { type: "flatten" },
      { type: "dense", units: 128, activation: "relu" },
      { type: "dense", units: 10 },
    ],
  },
  dataset: { name: "fashion-mnist" },
  optimizer: {
    name: "fngd",
    lr: 0.1,
    momentum: 0.9,
    weight_decay: 0.0005,
    damping: 1.0,
  },
  epochs: 10,
  batch_size: 128,
  seed: 42,
  validation_split: 0.1,
};

Deno.test("sdk/schema.ts is up to date (run `deno task sdk` if not)", async () => {
  const committed = await Deno.readTextFile(SDK_SCHEMA);
  const fresh = await renderSdkSchema();
  assert.ok(
    committed === fresh,
    "sdk/schema.ts is stale: run `deno task openapi && deno task sdk` and commit the result",
  );
});

Deno.test("the SDK creates, lists, reads, cancels and waits for jobs", async (t) => {
  const api = await startApi();
  const sdk = createFngdClient({ baseUrl: api.base, apiKey: KEY_A });
  try {
    await t.step(
      "create fills in the defaults; get and list agree",
      async () => {
        const job = await sdk.jobs.create(README_JOB, {
          idempotencyKey: "sdk-1",
        });
        assert.equal(job.status, "queued");
        // Response types have every default: no optional chaining needed.
        assert.equal(job.spec.validation_split, 0.1);
        assert.equal(job.spec.seed, 42);
        const again = await sdk.jobs.create(README_JOB, {
          idempotencyKey: "sdk-1",
        });
        assert.equal(again.id, job.id);
        assert.deepEqual((await sdk.jobs.get(job.id)).spec, job.spec);
        const page = await sdk.jobs.list({ limit: 10 });
        assert.deepEqual(page.data.map((j) => j.id), [job.id]);
        const events = await sdk.jobs.events(job.id);
        assert.deepEqual(events.data.map((e) => e.type), ["status"]);
      },
    );

    await t.step("errors are FngdApiError with the problem", async () => {
      await assert.rejects(
        () => sdk.jobs.get(crypto.randomUUID()),
        (err) =>
          err instanceof FngdApiError && err.status === 404 &&
          err.problem?.code === "job_not_found",
      );
      await assert.rejects(
        () =>
          sdk.jobs.create({
            ...README_JOB,
            optimizer: { name: "fngd", lr: -1 },
          }),
        (err) =>
          err instanceof FngdApiError && err.status === 400 &&
          err.problem?.code === "validation_failed" &&
          err.problem.errors?.[0].path === "optimizer.lr",
      );
      const other = createFngdClient({ baseUrl: api.base, apiKey: "nope" });
      await assert.rejects(
        () => other.jobs.list(),
        (err) => err instanceof FngdApiError && err.status === 401,
      );
    });

    await t.step(
      "wait follows the stream to the end and returns the finished job",
      async () => {
        const job = await sdk.jobs.create(README_JOB);
        const seen: JobEvent[] = [];
        const waiting = sdk.jobs.wait(job.id, {
          onEvent: (e) => seen.push(e),
        });
        await new Promise((r) => setTimeout(r, 100));
        const cancelled = await sdk.jobs.cancel(job.id);
        assert.equal(cancelled.status, "cancelled");
        const done = await waiting;
        assert.equal(done.status, "cancelled");
        assert.deepEqual(
          seen.map((e) => e.type === "status" && e.data.status),
          ["queued", "cancelled"],
        );
        // A finished job: wait answers at once, stream ends on the 204.
        assert.equal((await sdk.jobs.wait(job.id)).status, "cancelled");
        const rest = [];
        for await (const e of sdk.jobs.stream(job.id, { after: 2 })) {
          rest.push(e);
        }
        assert.deepEqual(rest, []);
      },
    );

    await t.step("datasets: upload, list, get", async () => {
      const csv = "a,b,c,d,y\n1,2,3,4,0\n5,6,7,8,1\n0.5,1e-3,-2,4,1\n";
      const created = await sdk.datasets.upload({
        name: "rows",
        format: "csv",
        file: new File([csv], "rows.csv"),
        label_column: "y",
        shape: [2, 2],
      });
      assert.deepEqual(created.shape, [2, 2]);
      assert.equal(created.samples, 3);
      assert.deepEqual((await sdk.datasets.list()).map((d) => d.id), [
        created.id,
      ]);
      assert.equal((await sdk.datasets.get(created.id)).name, "rows");
      const bob = createFngdClient({ baseUrl: api.base, apiKey: KEY_B });
      await assert.rejects(
        () => bob.datasets.get(created.id),
        (err) => err instanceof FngdApiError && err.status === 404,
      );
    });
  } finally {
    await api.close();
  }
});

Deno.test("jobs.stream resumes with Last-Event-ID after a dropped connection", async () => {
  const api = await startApi();
  const proxy = startTcpProxy({
    hostname: "127.0.0.1",
    port: Number(new URL(api.base).port),
  });
  const sdk = createFngdClient({
    baseUrl: `http://127.0.0.1:${proxy.port}`,
    apiKey: KEY_A,
  });
  const step = (i: number) =>
    appendJobEvent(api.tdb.db, job.id, "step", {
      epoch: 1,
      step: i,
      steps: 10,
      loss: 1 / i,
      phase: "inversion",
      lr: 0.1,
    });
  const job = await sdk.jobs.create(README_JOB);
  try {
    for (let i = 1; i <= 3; i++) await step(i); // seqs 2..4
    const reconnects: ReconnectInfo[] = [];
    const seqs: number[] = [];
    let last: JobEvent | undefined;
    for await (
      const event of sdk.jobs.stream(job.id, {
        retryMs: 20,
        onReconnect: (info) => reconnects.push(info),
        signal: AbortSignal.timeout(20_000),
      })
    ) {
      seqs.push(event.seq);
      last = event;
      if (event.seq === 4 && reconnects.length === 0) {
        // Mid-stream: the connection drops, new ones are refused a while,
        // and the job goes on meanwhile.
        proxy.cut("refuse");
        for (let i = 4; i <= 6; i++) await step(i); // seqs 5..7
        setTimeout(() => proxy.restore(), 200);
        setTimeout(async () => {
          await step(7); // seq 8
          await appendJobEvent(api.tdb.db, job.id, "status", {
            status: "succeeded",
          });
        }, 400);
      }
    }
    assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6, 7, 8, 9], "each event once");
    assert.ok(reconnects.length >= 1, "it reconnected");
    assert.equal(reconnects[0].lastEventId, "4");
    assert.ok(last?.type === "status" && last.data.status === "succeeded");
  } finally {
    await proxy.close();
    await api.close();
  }
});
