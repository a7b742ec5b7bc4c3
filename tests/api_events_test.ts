/**
 * GET /v1/jobs/{id}/events (a JSON page) and GET /v1/jobs/{id}/events/stream
 * (SSE), over real HTTP. A worker is simulated by appending events straight
 * to the table, which is all the stream reads.
 */
import assert from "node:assert/strict";
import { appendJobEvent } from "../db/mod.ts";
import {
  type ApiHarness,
  METRICS_TOKEN,
  postJob,
  startApi,
  syntheticJob,
} from "./_api.ts";
import { SseReader } from "./_sse.ts";

async function newJob(api: ApiHarness): Promise<string> {
  return (await (await postJob(api, syntheticJob())).json()).id;
}

/** Appends `n` step events; the job already has seq 1 (`queued`). */
async function steps(api: ApiHarness, jobId: string, n: number) {
  for (let i = 0; i < n; i++) {
    await appendJobEvent(api.tdb.db, jobId, "step", {
      epoch: 1,
      step: i + 1,
      steps: n,
      loss: 1 / (i + 1),
      phase: "inversion",
    });
  }
}

/**
 * Opens the job's stream: at /events/stream, or with `legacy` at /events with
 * `Accept: text/event-stream`, as clients did before the stream had a path.
 */
function openStream(
  api: ApiHarness,
  jobId: string,
  opts: {
    query?: string;
    lastEventId?: string;
    signal?: AbortSignal;
    legacy?: boolean;
  } = {},
) {
  const headers: Record<string, string> = { accept: "text/event-stream" };
  if (opts.lastEventId !== undefined) {
    headers["last-event-id"] = opts.lastEventId;
  }
  const path = opts.legacy ? "events" : "events/stream";
  return api.call(`/v1/jobs/${jobId}/${path}${opts.query ?? ""}`, {
    headers,
    signal: opts.signal,
  });
}

/** Every frame until the server closes the stream, comments left out. */
async function readToEnd(res: Response) {
  assert.equal(res.status, 200);
  const sse = new SseReader(res.body!);
  const frames = [];
  for (let f = await sse.next(); f; f = await sse.next()) {
    if (f.kind !== "comment") frames.push(f);
  }
  return frames;
}

async function openStreams(api: ApiHarness): Promise<number> {
  const text = await (await api.call("/metrics", { key: METRICS_TOKEN }))
    .text();
  return Number(/^fngd_sse_streams_open (\d+)$/m.exec(text)![1]);
}

/** Polls `check` until true; each check is bounded too, so a stuck fetch fails. */
async function until(check: () => Promise<boolean>, ms = 3000) {
  const end = Date.now() + ms;
  for (;;) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ok = await Promise.race([
      check(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`condition not checked within ${ms} ms`)),
          Math.max(0, end - Date.now()) + 1000,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    if (ok) return;
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("events API", async (t) => {
  const api = await startApi();
  try {
    await t.step("JSON pages follow seq with after and limit", async () => {
      const id = await newJob(api);
      await steps(api, id, 4);
      const first = await (await api.call(`/v1/jobs/${id}/events?limit=2`))
        .json();
      assert.deepEqual(first.data.map((e: { seq: number }) => e.seq), [1, 2]);
      assert.equal(first.has_more, true);
      assert.deepEqual(first.data[0].data, { status: "queued" });
      assert.equal(first.data[1].type, "step");
      assert.deepEqual(Object.keys(first.data[1]).sort(), [
        "created_at",
        "data",
        "seq",
        "type",
      ]);
      const rest =
        await (await api.call(`/v1/jobs/${id}/events?after=2&limit=10`)).json();
      assert.deepEqual(rest.data.map((e: { seq: number }) => e.seq), [3, 4, 5]);
      assert.equal(rest.has_more, false);
      const bad = await api.call(`/v1/jobs/${id}/events?after=-1`);
      assert.equal(bad.status, 400);
      await bad.body?.cancel();
    });

    await t.step(
      "SSE frames carry id=seq, event=type, data=event JSON, and close after the terminal status",
      async () => {
        const id = await newJob(api);
        const res = await openStream(api, id);
        assert.equal(res.status, 200);
        assert.match(res.headers.get("content-type")!, /^text\/event-stream/);
        const sse = new SseReader(res.body!);
        const queued = await sse.nextEvent();
        assert.equal(queued?.id, "1");
        assert.equal(queued?.event, "status");
        // Events appended while the client is connected arrive live.
        await steps(api, id, 2);
        await appendJobEvent(api.tdb.db, id, "status", {
          status: "succeeded",
          result: { final: { train_loss: 0.1 } },
        });
        const frames = [queued];
        let control;
        for (;;) {
          const f = await sse.next();
          if (!f) break;
          if (f.kind === "event") frames.push(f);
          if (f.kind === "control") control = f;
        }
        assert.deepEqual(frames.map((f) => f?.id), ["1", "2", "3", "4"]);
        // The terminal event is followed by a reconnection delay, then the end.
        assert.deepEqual(control, { kind: "control", retry: 1000 });
        assert.deepEqual(frames.map((f) => f?.event), [
          "status",
          "step",
          "step",
          "status",
        ]);
        const page = await (await api.call(`/v1/jobs/${id}/events`)).json();
        assert.deepEqual(frames.map((f) => JSON.parse(f!.data)), page.data);
      },
    );

    await t.step(
      "resume: Last-Event-ID (or after) gives exactly the later events",
      async (t) => {
        const id = await newJob(api);
        await steps(api, id, 4);
        await appendJobEvent(api.tdb.db, id, "status", { status: "failed" });
        const seqs = async (opts: Parameters<typeof openStream>[2]) => {
          const frames = await readToEnd(await openStream(api, id, opts));
          return frames.flatMap((f) => f.kind === "event" ? [f.id!] : []);
        };
        await t.step("Last-Event-ID header", async () => {
          assert.deepEqual(await seqs({ lastEventId: "3" }), ["4", "5", "6"]);
        });
        await t.step("after query", async () => {
          assert.deepEqual(await seqs({ query: "?after=4" }), ["5", "6"]);
        });
        await t.step("the header wins over the query", async () => {
          assert.deepEqual(
            await seqs({ query: "?after=1", lastEventId: "5" }),
            ["6"],
          );
        });
        await t.step(
          "a reconnect at or past a finished job's last event is 204, which stops EventSource",
          async () => {
            for (
              const opts of [
                { lastEventId: "6" },
                { lastEventId: "7" },
                { query: "?after=6" },
                { lastEventId: "6", legacy: true },
              ]
            ) {
              const res = await openStream(api, id, opts);
              assert.equal(res.status, 204, JSON.stringify(opts));
              assert.equal(await res.text(), "");
            }
            // One event short of the end still streams it.
            assert.deepEqual(await seqs({ lastEventId: "5" }), ["6"]);
          },
        );
        await t.step(
          "the old path still streams for Accept: text/event-stream",
          async () => {
            assert.deepEqual(await seqs({ lastEventId: "3", legacy: true }), [
              "4",
              "5",
              "6",
            ]);
            const res = await openStream(api, id, {
              lastEventId: "x",
              legacy: true,
            });
            assert.equal(res.status, 400);
            assert.equal((await res.json()).errors[0].in, "header");
          },
        );
        await t.step("a bad Last-Event-ID is 400", async () => {
          const res = await openStream(api, id, { lastEventId: "abc" });
          assert.equal(res.status, 400);
          assert.equal((await res.json()).errors[0].in, "header");
        });
      },
    );

    await t.step(
      "a failed job's error event is job_error, rows stored as error included",
      async () => {
        const id = await newJob(api);
        const error = { code: "diverged", message: "loss is NaN" };
        // Written as the worker wrote it before the rename.
        await appendJobEvent(api.tdb.db, id, "error", error);
        await appendJobEvent(api.tdb.db, id, "status", {
          status: "failed",
          error,
        });
        const page = await (await api.call(`/v1/jobs/${id}/events`)).json();
        assert.deepEqual(page.data.map((e: { type: string }) => e.type), [
          "status",
          "job_error",
          "status",
        ]);
        assert.deepEqual(page.data[1].data, error);
        const frames = await readToEnd(await openStream(api, id));
        const events = frames.flatMap((f) => f.kind === "event" ? [f] : []);
        assert.deepEqual(events.map((f) => f.event), [
          "status",
          "job_error",
          "status",
        ]);
        assert.equal(JSON.parse(events[1].data).type, "job_error");
      },
    );

    await t.step(
      "heartbeat comments arrive while the job is quiet",
      async () => {
        const id = await newJob(api);
        const sse = new SseReader(
          (await openStream(api, id, { lastEventId: "1" })).body!,
        );
        const started = Date.now();
        const frame = await sse.next(3000);
        assert.deepEqual(frame, { kind: "comment", text: "heartbeat" });
        // SSE_HEARTBEAT_MS is 150 in tests: not immediate, not late.
        assert.ok(
          Date.now() - started >= 100,
          `heartbeat after ${Date.now() - started} ms`,
        );
        assert.deepEqual(await sse.next(3000), {
          kind: "comment",
          text: "heartbeat",
        });
        await sse.cancel();
      },
    );

    await t.step(
      "a client abort stops the server's polling, and logs nothing",
      async () => {
        const logged: unknown[] = [];
        const originalError = console.error;
        console.error = (...args: unknown[]) => logged.push(args);
        try {
          await until(async () => (await openStreams(api)) === 0);
          const id = await newJob(api);
          const ctl = new AbortController();
          const res = await openStream(api, id, { signal: ctl.signal });
          const sse = new SseReader(res.body!);
          assert.equal((await sse.nextEvent())?.id, "1");
          assert.equal(await openStreams(api), 1);
          ctl.abort();
          await until(async () => (await openStreams(api)) === 0);
          // Events appended after the abort are not a problem for anyone.
          await steps(api, id, 2);
          await new Promise((r) => setTimeout(r, 100));
          assert.equal(await openStreams(api), 0);
        } finally {
          console.error = originalError;
        }
        assert.deepEqual(logged, []);
      },
    );

    await t.step(
      "a stream on a cancelled job ends with the cancelled status",
      async () => {
        const id = await newJob(api);
        const sse = new SseReader((await openStream(api, id)).body!);
        assert.equal((await sse.nextEvent())?.id, "1");
        const cancel = await api.call(`/v1/jobs/${id}/cancel`, {
          method: "POST",
        });
        assert.equal(cancel.status, 200);
        await cancel.body?.cancel();
        const last = await sse.nextEvent();
        assert.deepEqual(JSON.parse(last!.data).data, { status: "cancelled" });
        assert.equal(await sse.nextEvent(), undefined);
      },
    );
  } finally {
    await api.close();
  }
});

Deno.test("an EventSource gets named events and job_error, and stops once the job is finished", async () => {
  // Auth off: EventSource cannot send an Authorization header.
  const api = await startApi({ API_KEYS: "" });
  try {
    const id = (await (await postJob(api, syntheticJob(), { key: null }))
      .json()).id;
    await steps(api, id, 1);
    const es = new EventSource(`${api.base}/v1/jobs/${id}/events/stream`);
    const got: string[] = [];
    let unnamed = 0;
    try {
      for (const type of ["status", "step", "job_error"]) {
        es.addEventListener(type, (e) => {
          const { seq, type: sent } = JSON.parse((e as MessageEvent).data);
          got.push(`${(e as MessageEvent).lastEventId}:${type}:${seq}:${sent}`);
        });
      }
      es.onmessage = () => unnamed++;
      await until(() => Promise.resolve(got.length === 2));
      const error = { code: "diverged", message: "loss is NaN" };
      await appendJobEvent(api.tdb.db, id, "job_error", error);
      await appendJobEvent(api.tdb.db, id, "status", {
        status: "failed",
        error,
      });
      // After the close it reconnects once (retry: 1000) and the 204 ends
      // it; an empty 200 instead would keep it reconnecting forever.
      await until(
        () => Promise.resolve(es.readyState === EventSource.CLOSED),
        5000,
      );
      assert.deepEqual(got, [
        "1:status:1:status",
        "2:step:2:step",
        "3:job_error:3:job_error",
        "4:status:4:status",
      ]);
      assert.equal(unnamed, 0, "every event is named");
    } finally {
      es.close();
    }
  } finally {
    await api.close();
  }
});

Deno.test({
  name: "NOTIFY wakes a stream long before its next poll (real Postgres only)",
  ignore: !Deno.env.get("DATABASE_URL"),
  async fn() {
    // Polls 10 s apart: only a notification can deliver the event quickly.
    const api = await startApi({
      SSE_POLL_MS: "10000",
      SSE_HEARTBEAT_MS: "60000",
    });
    try {
      const id = await newJob(api);
      const sse = new SseReader((await openStream(api, id)).body!);
      try {
        assert.equal((await sse.nextEvent())?.id, "1");
        await new Promise((r) => setTimeout(r, 300)); // LISTEN is set up
        const sent = Date.now();
        await steps(api, id, 1);
        const frame = await sse.nextEvent(5000);
        assert.equal(frame?.id, "2");
        assert.ok(
          Date.now() - sent < 2000,
          `arrived after ${Date.now() - sent} ms`,
        );
      } finally {
        await sse.cancel();
      }
      await until(async () => (await openStreams(api)) === 0);
    } finally {
      await api.close();
    }
  },
});
