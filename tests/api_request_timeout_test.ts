/**
 * REQUEST_TIMEOUT_MS over real HTTP: a body shorter than its Content-Length,
 * or trickled, gets 408 problem+json within a bounded time and writes
 * nothing; a body that arrives in time is served; an SSE stream outlives the
 * timeout, which bounds bodies only.
 */
import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../src/config.ts";
import { type ApiHarness, KEY_A, startApi, syntheticJob } from "./_api.ts";
import { type RawExchange, rawExchange, type RawPart } from "./_raw_http.ts";
import { SseReader } from "./_sse.ts";

const TIMEOUT_MS = 400;
/** How late a 408 may come on a loaded 2-core machine; far below "forever". */
const SLACK_MS = 3000;

/** A request written by hand, as alice, with `headers` added. */
function send(
  api: ApiHarness,
  requestLine: string,
  headers: string[],
  parts: RawPart[],
): Promise<RawExchange> {
  return rawExchange(
    api.base,
    [
      requestLine,
      `Host: ${new URL(api.base).host}`,
      `Authorization: Bearer ${KEY_A}`,
      ...headers,
    ],
    parts,
    TIMEOUT_MS + SLACK_MS + 2000,
  );
}

/** Asserts a 408 request_timeout problem that came within the slack. */
function assertTimedOut(res: RawExchange) {
  assert.equal(res.status, 408, `got ${res.status}: ${res.body}`);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  const body = JSON.parse(res.body);
  assert.equal(body.code, "request_timeout");
  assert.match(body.detail, new RegExp(`${TIMEOUT_MS} ms`));
  assert.ok(
    res.elapsedMs >= TIMEOUT_MS - 50 && res.elapsedMs < TIMEOUT_MS + SLACK_MS,
    `answered after ${res.elapsedMs} ms`,
  );
}

async function rows(api: ApiHarness): Promise<number[]> {
  return await Promise.all(
    (["jobs", "job_events", "datasets", "comparisons"] as const).map((t) =>
      api.count(t)
    ),
  );
}

Deno.test("REQUEST_TIMEOUT_MS is parsed and checked", () => {
  assert.equal(loadConfig({}).requestTimeoutMs, 30_000);
  assert.equal(loadConfig({ REQUEST_TIMEOUT_MS: "250" }).requestTimeoutMs, 250);
  for (const bad of ["0", "-5", "1.5", "soon", "3600001"]) {
    assert.throws(
      () => loadConfig({ REQUEST_TIMEOUT_MS: bad }),
      (e: unknown) =>
        e instanceof ConfigError &&
        /REQUEST_TIMEOUT_MS must be/.test(e.message),
      bad,
    );
  }
});

Deno.test("request bodies that do not arrive in time get 408 and write nothing", async (t) => {
  const api = await startApi({
    REQUEST_TIMEOUT_MS: String(TIMEOUT_MS),
    // Frequent, so the SSE step sees many past the timeout.
    SSE_HEARTBEAT_MS: "100",
  });
  try {
    const before = await rows(api);

    await t.step("Content-Length: 100 with 10 bytes sent", async () => {
      const res = await send(api, "POST /v1/jobs HTTP/1.1", [
        "Content-Type: application/json",
        "Content-Length: 100",
      ], [{ bytes: '{"model": ' }]);
      assertTimedOut(res);
      assert.equal(res.headers.get("connection"), "close");
    });

    await t.step("a valid job trickled a byte every 50 ms", async () => {
      const body = JSON.stringify(syntheticJob());
      const res = await send(api, "POST /v1/jobs HTTP/1.1", [
        "Content-Type: application/json",
        `Content-Length: ${body.length}`,
      ], [...body].map((ch) => ({ bytes: ch, delayMs: 50 })));
      assertTimedOut(res);
    });

    await t.step("a chunked body that never ends", async () => {
      // Deno sends a response to a chunked request only once more of its
      // body arrives, so this client keeps trickling (as a slow loris does).
      const res = await send(api, "POST /v1/jobs HTTP/1.1", [
        "Content-Type: application/json",
        "Transfer-Encoding: chunked",
      ], [
        { bytes: "1\r\n{\r\n" },
        ...Array.from({ length: 60 }, () => ({
          bytes: "1\r\n \r\n",
          delayMs: 100,
        })),
      ]);
      assertTimedOut(res);
    });

    await t.step("a multipart upload cut short", async () => {
      const part =
        '--XX\r\nContent-Disposition: form-data; name="name"\r\n\r\n' +
        "rows\r\n";
      const res = await send(api, "POST /v1/datasets HTTP/1.1", [
        "Content-Type: multipart/form-data; boundary=XX",
        "Content-Length: 5000",
      ], [{ bytes: part }]);
      assertTimedOut(res);
    });

    await t.step("nothing was written", async () => {
      assert.deepEqual(await rows(api), before);
    });

    await t.step(
      "a body that arrives in time, in pieces, is served",
      async () => {
        const body = JSON.stringify(syntheticJob());
        const third = Math.ceil(body.length / 3);
        const res = await send(api, "POST /v1/jobs HTTP/1.1", [
          "Content-Type: application/json",
          `Content-Length: ${body.length}`,
        ], [
          { bytes: body.slice(0, third) },
          { bytes: body.slice(third, 2 * third), delayMs: 50 },
          { bytes: body.slice(2 * third), delayMs: 50 },
        ]);
        assert.equal(res.status, 201, res.body);
        assert.equal(await api.count("jobs"), before[0] + 1);
      },
    );

    await t.step("an SSE stream outlives REQUEST_TIMEOUT_MS", async () => {
      const [{ id }] = (await (await api.call("/v1/jobs")).json()).data;
      const res = await api.call(`/v1/jobs/${id}/events`, {
        headers: { accept: "text/event-stream" },
      });
      assert.equal(res.status, 200);
      const reader = new SseReader(res.body!);
      try {
        const first = await reader.nextEvent(2000);
        assert.equal(first?.event, "status");
        // Frames keep coming well after the body deadline would have passed:
        // only bodies are timed.
        const start = performance.now();
        let heartbeats = 0;
        while (performance.now() - start < 3 * TIMEOUT_MS) {
          const frame = await reader.next(2000);
          assert.ok(frame, "the stream ended");
          if (frame.kind === "comment") heartbeats++;
        }
        assert.ok(heartbeats >= 3, `${heartbeats} heartbeats`);
      } finally {
        await reader.cancel();
      }
    });
  } finally {
    await api.close();
  }
});
