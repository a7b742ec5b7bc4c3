/** /v1/comparisons over real HTTP, against a real database and a real worker process. */
import assert from "node:assert/strict";
import { listEpochMetrics, listJobEvents } from "../db/mod.ts";
import {
  type ApiHarness,
  KEY_B,
  METRICS_TOKEN,
  postJob,
  startApi,
  syntheticJob,
} from "./_api.ts";
import { SseReader } from "./_sse.ts";
import { startWorker } from "./_worker.ts";

const EPOCHS = 3;
const TARGET = 0.82;

/** 2 optimizers x 2 seeds of a tiny MLP on seeded synthetic vectors. */
function comparisonBody(overrides: Record<string, unknown> = {}) {
  return {
    spec: {
      model: {
        input_shape: [8],
        layers: [
          { type: "dense", units: 16, activation: "relu" },
          { type: "dense", units: 3 },
        ],
      },
      dataset: { name: "synthetic", samples: 256, features: 8, classes: 3 },
      epochs: EPOCHS,
      batch_size: 32,
    },
    optimizers: [
      { name: "sgd", lr: 0.1, momentum: 0.9 },
      { name: "adamw", lr: 0.01 },
    ],
    seeds: [1, 2],
    target: { metric: "val_accuracy", value: TARGET },
    ...overrides,
  };
}

function postComparison(
  api: ApiHarness,
  body: unknown,
  init: { key?: string | null; headers?: Record<string, string> } = {},
): Promise<Response> {
  return api.call("/v1/comparisons", {
    method: "POST",
    key: init.key,
    headers: { "content-type": "application/json", ...init.headers },
    body: JSON.stringify(body),
  });
}

async function problem(res: Response, status: number, code: string) {
  assert.equal(res.status, status);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  const body = await res.json();
  assert.equal(body.status, status);
  assert.equal(body.code, code);
  return body;
}

type Counts = Record<"comparisons" | "jobs" | "job_events", number>;

async function counts(api: ApiHarness): Promise<Counts> {
  return {
    comparisons: await api.count("comparisons"),
    jobs: await api.count("jobs"),
    job_events: await api.count("job_events"),
  };
}

/** Every frame of an SSE response until the server closes it. */
async function readAll(res: Response, timeoutMs: number) {
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
  const reader = new SseReader(res.body!);
  const frames = [];
  for (;;) {
    const frame = await reader.nextEvent(timeoutMs);
    if (!frame) return frames;
    frames.push({ ...frame, json: JSON.parse(frame.data) });
  }
}

interface ComparisonJson {
  id: string;
  done: boolean;
  metric: { name: string; better: string };
  jobs: { id: string; optimizer: number; seed: number; status: string }[];
  table: {
    optimizer: number;
    name: string;
    best: { mean: number; min: number; max: number; n: number } | null;
    target: {
      reached: number;
      runs: number;
      epochs_mean: number | null;
      seconds_mean: number | null;
    } | null;
    latest_epoch: { min: number; max: number };
    runs: {
      seed: number;
      job_id: string;
      status: string;
      best: number | null;
      best_epoch: number | null;
      latest_epoch: number;
      epochs_to_target: number | null;
      seconds_to_target: number | null;
    }[];
  }[];
}

/** The server's count of open SSE streams, from GET /metrics. */
async function openStreams(api: ApiHarness): Promise<number> {
  const text = await (await api.call("/metrics", { key: METRICS_TOKEN }))
    .text();
  return Number(/^fngd_sse_streams_open (\d+)$/m.exec(text)![1]);
}

/** Polls `check` every 20 ms until it holds, for at most `ms`. */
async function until(check: () => Promise<boolean>, ms = 3000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const close = (a: number, b: number) =>
  Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));

Deno.test("comparisons API", async (t) => {
  // Room for exactly one 2 x 2 comparison besides bob's two queued jobs.
  const api = await startApi({ MAX_QUEUED_PER_TENANT: "5" });
  let worker: ReturnType<typeof startWorker> | undefined;
  // What the quota step leaves queued for bob, until the abort step cancels it.
  const bob = {
    jobs: [] as string[],
    comparison: undefined as unknown as ComparisonJson,
  };
  try {
    await t.step(
      "bad input is 400 problem+json naming the field, and writes nothing",
      async (t) => {
        const before = await counts(api);
        const cases: [string, unknown, string, string, RegExp][] = [
          [
            "an invalid optimizer field",
            comparisonBody({
              optimizers: [{ name: "sgd" }, { name: "adamw" }, {
                name: "fngd",
                lr: -1,
              }],
            }),
            "validation_failed",
            "optimizers.2.lr",
            /./,
          ],
          [
            "too many jobs",
            comparisonBody({
              optimizers: [0.1, 0.2, 0.3, 0.4, 0.5].map((lr) => ({
                name: "sgd",
                lr,
              })),
              seeds: [1, 2, 3, 4, 5],
            }),
            "validation_failed",
            "",
            /at most 20 jobs \(optimizers x seeds\), got 5 x 5 = 25/,
          ],
          [
            "too many optimizers",
            comparisonBody({
              optimizers: Array.from(
                { length: 9 },
                (_, i) => ({ name: "sgd", lr: 0.01 * (i + 1) }),
              ),
              seeds: [1],
            }),
            "validation_failed",
            "optimizers",
            /optimizers must hold 1 to 8 entries, got 9/,
          ],
          [
            "a duplicate optimizer, once defaults are filled in",
            comparisonBody({
              optimizers: [{ name: "sgd" }, { name: "sgd", lr: 0.1 }],
            }),
            "validation_failed",
            "optimizers.1",
            /repeats optimizers\.0/,
          ],
          [
            "a duplicate seed",
            comparisonBody({ seeds: [3, 3] }),
            "validation_failed",
            "seeds.1",
            /repeats seeds\.0/,
          ],
          [
            "an unknown metric",
            comparisonBody({ target: { metric: "val_f1", value: 0.9 } }),
            "validation_failed",
            "target.metric",
            /./,
          ],
          [
            "a metric this task never reports",
            comparisonBody({
              target: { metric: "val_reconstruction_error", value: 0.1 },
            }),
            "validation_failed",
            "target.metric",
            /only for autoencoders/,
          ],
          [
            "a cross-field error of the shared spec",
            comparisonBody({
              spec: {
                ...comparisonBody().spec,
                target: "input",
                loss: "mse",
              },
              target: undefined,
            }),
            "validation_failed",
            "spec.model.layers.1.units",
            /needs 8 units/,
          ],
          [
            "a spec the engine cannot run",
            comparisonBody({
              spec: {
                ...comparisonBody().spec,
                model: {
                  input_shape: [8, 8, 1],
                  layers: [
                    { type: "conv2d", filters: 4, kernel_size: 3 },
                    { type: "dense", units: 3 },
                  ],
                },
                dataset: { name: "synthetic", shape: [8, 8, 1], classes: 3 },
              },
            }),
            "invalid_spec",
            "spec.model.layers.1",
            /add a flatten layer/,
          ],
          [
            "an unknown uploaded dataset",
            comparisonBody({
              spec: {
                ...comparisonBody().spec,
                dataset: { id: crypto.randomUUID() },
              },
            }),
            "validation_failed",
            "spec.dataset.id",
            /no uploaded dataset/,
          ],
        ];
        for (const [name, body, code, path, message] of cases) {
          await t.step(name, async () => {
            const p = await problem(
              await postComparison(api, body),
              400,
              code,
            );
            const hit = p.errors.find((e: { path: string }) => e.path === path);
            assert.ok(hit, JSON.stringify(p.errors));
            assert.equal(hit.in, "body");
            assert.match(hit.message, message);
          });
        }
        assert.deepEqual(await counts(api), before);
      },
    );

    await t.step(
      "a comparison beyond the queue quota is 429 as a whole",
      async () => {
        const bobs = [];
        for (const seed of [1, 2]) {
          const res = await postJob(api, syntheticJob({ seed }), {
            key: KEY_B,
          });
          assert.equal(res.status, 201);
          bobs.push((await res.json()).id);
        }
        const before = await counts(api);
        const res = await postComparison(api, comparisonBody(), { key: KEY_B });
        assert.equal(res.headers.get("retry-after"), "30");
        const p = await problem(res, 429, "too_many_queued_jobs");
        assert.match(p.detail, /found 2, and this request adds 4/);
        assert.deepEqual(await counts(api), before);
        // Three more fit exactly.
        const fits = await postComparison(
          api,
          comparisonBody({ seeds: [1, 2, 3], optimizers: [{ name: "sgd" }] }),
          { key: KEY_B },
        );
        assert.equal(fits.status, 201);
        bob.comparison = await fits.json();
        bob.jobs = [...bobs, ...bob.comparison.jobs.map((j) => j.id)];
      },
    );

    await t.step(
      "a client abort ends its stream; cancelling every job ends the others",
      async () => {
        const open = (signal?: AbortSignal) =>
          api.call(`/v1/comparisons/${bob.comparison.id}/events/stream`, {
            key: KEY_B,
            headers: { accept: "text/event-stream" },
            signal,
          });
        const ctl = new AbortController();
        const aborted = new SseReader((await open(ctl.signal)).body!);
        const follower = new SseReader((await open()).body!);
        for (const sse of [aborted, follower]) {
          assert.equal((await sse.nextEvent())?.event, "status");
        }
        assert.equal(await openStreams(api), 2);
        ctl.abort();
        await until(async () => (await openStreams(api)) === 1);
        // No worker runs yet, so nothing of bob's trains.
        for (const id of bob.jobs) {
          const cancel = await api.call(`/v1/jobs/${id}/cancel`, {
            method: "POST",
            key: KEY_B,
          });
          assert.equal((await cancel.json()).status, "cancelled");
        }
        const statuses = [];
        for (;;) {
          const frame = await follower.nextEvent();
          if (!frame) break;
          statuses.push(JSON.parse(frame.data).data.status);
        }
        assert.deepEqual(statuses.filter((s) => s === "cancelled").length, 3);
        await until(async () => (await openStreams(api)) === 0);
      },
    );

    worker = startWorker(api.tdb);
    const headers = { "idempotency-key": "compare-1" };
    const res = await postComparison(api, comparisonBody(), { headers });
    assert.equal(res.status, 201, await res.clone().text());
    const created = await res.json() as ComparisonJson;
    // Follow it from the start, while the worker trains.
    const live = api.call(`/v1/comparisons/${created.id}/events/stream`, {
      headers: { accept: "text/event-stream" },
      signal: AbortSignal.timeout(120_000),
    }).then((r) => readAll(r, 60_000));

    await t.step("POST queues one job per (optimizer, seed)", async () => {
      assert.deepEqual(
        created.jobs.map((j) => [j.optimizer, j.seed, j.status]),
        [[0, 1, "queued"], [0, 2, "queued"], [1, 1, "queued"], [
          1,
          2,
          "queued",
        ]],
      );
      assert.deepEqual(created.metric, {
        name: "val_accuracy",
        better: "higher",
      });
      assert.equal(created.done, false);
      const body = comparisonBody();
      for (const j of created.jobs) {
        const job = await (await api.call(`/v1/jobs/${j.id}`)).json();
        assert.equal(job.comparison_id, created.id);
        assert.equal(job.spec.seed, j.seed);
        assert.equal(
          job.spec.optimizer.name,
          body.optimizers[j.optimizer].name,
        );
        assert.equal(job.spec.optimizer.lr, body.optimizers[j.optimizer].lr);
        assert.deepEqual(
          job.spec.model.layers.map((l: { units: number }) => l.units),
          [16, 3],
        );
        assert.equal(job.spec.epochs, EPOCHS);
      }
      assert.deepEqual(
        created.table.map((r) => [r.name, r.best, r.latest_epoch]),
        [["sgd", null, { min: 0, max: 0 }], ["adamw", null, {
          min: 0,
          max: 0,
        }]],
      );
    });

    await t.step(
      "an Idempotency-Key replay returns the same comparison",
      async () => {
        const before = await counts(api);
        const again = await postComparison(api, comparisonBody(), { headers });
        assert.equal(again.status, 200);
        assert.equal((await again.json()).id, created.id);
        // Defaults filled in make the same request.
        const spelled = comparisonBody({
          optimizers: [
            { name: "sgd", lr: 0.1, momentum: 0.9, nesterov: false },
            { name: "adamw", lr: 0.01, weight_decay: 0.01 },
          ],
        });
        const same = await postComparison(api, spelled, { headers });
        assert.equal(same.status, 200);
        assert.equal((await same.json()).id, created.id);
        await problem(
          await postComparison(api, comparisonBody({ seeds: [1, 3] }), {
            headers,
          }),
          422,
          "idempotency_key_reused",
        );
        assert.deepEqual(await counts(api), before);
        // The same key is bob's own.
        const bob = await postComparison(
          api,
          comparisonBody({ seeds: [9], optimizers: [{ name: "sgd" }] }),
          { headers, key: KEY_B },
        );
        assert.equal(bob.status, 201);
        const bobs = await bob.json() as ComparisonJson;
        assert.notEqual(bobs.id, created.id);
        await api.call(`/v1/jobs/${bobs.jobs[0].id}/cancel`, {
          method: "POST",
          key: KEY_B,
        });
      },
    );

    await t.step("another tenant's comparison is 404", async () => {
      for (const path of ["", "/events", "/events/stream"]) {
        await problem(
          await api.call(`/v1/comparisons/${created.id}${path}`, {
            key: KEY_B,
          }),
          404,
          "comparison_not_found",
        );
      }
      await problem(
        await api.call(`/v1/comparisons/${crypto.randomUUID()}`),
        404,
        "comparison_not_found",
      );
      await problem(
        await api.call("/v1/comparisons/not-a-uuid"),
        404,
        "comparison_not_found",
      );
    });

    const frames = await live;
    let done: ComparisonJson;

    await t.step(
      "the SSE stream relays every job's epochs, tagged, and closes",
      async () => {
        done = await (await api.call(`/v1/comparisons/${created.id}`))
          .json();
        assert.equal(done.done, true, worker!.output());
        for (const j of done.jobs) assert.equal(j.status, "succeeded");
        assert.equal(
          frames.filter((f) => f.event === "epoch").length,
          done.jobs.length * EPOCHS,
        );
        const byJob = new Map(done.jobs.map((j) => [j.id, j]));
        for (const f of frames) {
          const j = byJob.get(f.json.job_id)!;
          assert.equal(f.json.optimizer, j.optimizer);
          assert.equal(f.json.seed, j.seed);
          assert.equal(f.json.optimizer_name, ["sgd", "adamw"][j.optimizer]);
          assert.equal(f.event, f.json.type);
          assert.ok(["epoch", "status"].includes(f.event!));
        }
        for (const j of done.jobs) {
          const mine = frames.filter((f) => f.json.job_id === j.id);
          const seqs = mine.map((f) => f.json.seq);
          assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
          assert.deepEqual(
            mine.filter((f) => f.event === "status").map((f) =>
              f.json.data.status
            ),
            ["queued", "running", "succeeded"],
          );
          const epochs = mine.filter((f) => f.event === "epoch").map((f) =>
            f.json.data
          );
          const stored = await listEpochMetrics(api.tdb.db, j.id);
          assert.deepEqual(
            epochs.map((e) => [e.epoch, e.val_accuracy, e.seconds]),
            stored.map((m) => [m.epoch, m.valAccuracy, m.seconds]),
          );
        }
        // The cursor of the last frame holds every job's last relayed seq.
        const last = frames.at(-1)!.id!.split(".").map(Number);
        assert.deepEqual(
          last,
          done.jobs.map((j) =>
            Math.max(
              ...frames.filter((f) => f.json.job_id === j.id).map((f) =>
                f.json.seq
              ),
            )
          ),
        );
      },
    );

    await t.step(
      "Last-Event-ID resumes each job where the client stopped",
      async () => {
        const cut = frames[Math.floor(frames.length / 2)];
        const cursor = cut.id!.split(".").map(Number);
        const resumed = await readAll(
          await api.call(`/v1/comparisons/${created.id}/events/stream`, {
            headers: { accept: "text/event-stream", "last-event-id": cut.id! },
          }),
          10_000,
        );
        // The first path still serves the same stream.
        assert.deepEqual(
          await readAll(
            await api.call(`/v1/comparisons/${created.id}/events`, {
              headers: {
                accept: "text/event-stream",
                "last-event-id": cut.id!,
              },
            }),
            10_000,
          ),
          resumed,
        );
        const index = new Map(done.jobs.map((j, i) => [j.id, i]));
        const expected = frames.filter((f) =>
          f.json.seq > cursor[index.get(f.json.job_id)!]
        );
        assert.deepEqual(
          resumed.map((f) => `${f.json.job_id}/${f.json.seq}`).sort(),
          expected.map((f) => `${f.json.job_id}/${f.json.seq}`).sort(),
        );
        assert.ok(resumed.length > 0 && resumed.length < frames.length);
        // EventSource reconnects after every close: at the end, a 204 stops it.
        for (const path of ["events/stream", "events"]) {
          const atEnd = await api.call(
            `/v1/comparisons/${created.id}/${path}`,
            {
              headers: {
                accept: "text/event-stream",
                "last-event-id": frames.at(-1)!.id!,
              },
            },
          );
          assert.equal(atEnd.status, 204, path);
          assert.equal(await atEnd.text(), "");
        }
        await problem(
          await api.call(`/v1/comparisons/${created.id}/events/stream`, {
            headers: { accept: "text/event-stream", "last-event-id": "3.4" },
          }),
          400,
          "validation_failed",
        );
      },
    );

    await t.step(
      "GET shows the table, agreeing with the stored epoch metrics",
      async () => {
        let reachedAny = 0;
        for (const row of done.table) {
          const bests: number[] = [];
          for (const run of row.runs) {
            const stored = await listEpochMetrics(api.tdb.db, run.job_id);
            assert.equal(stored.length, EPOCHS);
            const accuracies = stored.map((m) => m.valAccuracy!);
            assert.equal(run.best, Math.max(...accuracies));
            assert.equal(
              run.best_epoch,
              stored[accuracies.indexOf(run.best!)].epoch,
            );
            assert.equal(run.latest_epoch, EPOCHS);
            const k = accuracies.findIndex((a) => a >= TARGET);
            if (k < 0) {
              assert.equal(run.epochs_to_target, null);
              assert.equal(run.seconds_to_target, null);
            } else {
              reachedAny++;
              assert.equal(run.epochs_to_target, k + 1);
              const seconds = stored.slice(0, k + 1).reduce(
                (s, m) => s + m.seconds,
                0,
              );
              assert.ok(close(run.seconds_to_target!, seconds));
              assert.ok(run.seconds_to_target! > 0);
            }
            bests.push(run.best!);
          }
          assert.deepEqual(row.runs.map((r) => r.seed), [1, 2]);
          assert.equal(row.best!.n, 2);
          assert.equal(row.best!.min, Math.min(...bests));
          assert.equal(row.best!.max, Math.max(...bests));
          assert.ok(close(row.best!.mean, (bests[0] + bests[1]) / 2));
          const reached = row.runs.filter((r) => r.epochs_to_target !== null);
          assert.equal(row.target!.reached, reached.length);
          assert.equal(row.target!.runs, 2);
          if (reached.length) {
            assert.ok(close(
              row.target!.epochs_mean!,
              reached.reduce((s, r) => s + r.epochs_to_target!, 0) /
                reached.length,
            ));
          } else {
            assert.equal(row.target!.epochs_mean, null);
          }
          assert.deepEqual(row.latest_epoch, { min: EPOCHS, max: EPOCHS });
        }
        assert.ok(reachedAny > 0, "some run reaches the target");
      },
    );

    await t.step(
      "jobs with the same seed start from the same weights and batches",
      async () => {
        // The first stored step event's loss is the first batch's loss under
        // the initial weights, before any update: the optimizer plays no part.
        const firstLoss = async (id: string) => {
          const events = await listJobEvents(api.tdb.db, id, { limit: 1000 });
          const step = events.find((e) => e.type === "step")!;
          assert.equal(step.data.step, 1);
          return step.data.loss as number;
        };
        const loss = new Map<string, number>();
        for (const j of done.jobs) {
          loss.set(`${j.optimizer}/${j.seed}`, await firstLoss(j.id));
        }
        assert.equal(loss.get("0/1"), loss.get("1/1"));
        assert.equal(loss.get("0/2"), loss.get("1/2"));
        assert.notEqual(loss.get("0/1"), loss.get("0/2"));
      },
    );
  } finally {
    await worker?.stop();
    await api.close();
  }
});
