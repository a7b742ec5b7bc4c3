/**
 * GET /v1/jobs/{id}/events as a JSON page and as SSE. A worker is simulated by
 * appending events straight to the table, which is all the stream reads.
 */
import assert from "node:assert/strict";
import { appendJobEvent } from "../db/mod.ts";
import { type ApiHarness, postJob, startApi, syntheticJob } from "./_api.ts";
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

function openStream(
  api: ApiHarness,
  jobId: string,
  opts: { query?: string; lastEventId?: string; signal?: AbortSignal } = {},
) {
  const headers: Record<string, string> = { accept: "text/event-stream" };
  if (opts.lastEventId !== undefined) {
    headers["last-event-id"] = opts.lastEventId;
  }
  return api.call(`/v1/jobs/${jobId}/events${opts.query ?? ""}`, {
    headers,
    signal: opts.signal,
  });
}

async function openStreams(api: ApiHarness): Promise<number> {
  const text = await (await api.call("/metrics", { key: null })).text();
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
        for (;;) {
          const f = await sse.nextEvent();
          if (!f) break;
          frames.push(f);
        }
        assert.deepEqual(frames.map((f) => f?.id), ["1", "2", "3", "4"]);
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
          const sse = new SseReader((await openStream(api, id, opts)).body!);
          const out: string[] = [];
          for (let f = await sse.nextEvent(); f; f = await sse.nextEvent()) {
            out.push(f.id!);
          }
          return out;
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
          "after the terminal event the stream just closes",
          async () => {
            assert.deepEqual(await seqs({ lastEventId: "6" }), []);
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
