/**
 * POST /v1/jobs/{id}/stream-token and `?token=` on the job's event stream,
 * over real HTTP with API keys on: the token opens that one job's stream for
 * its tenant until it expires, and nothing else.
 */
import assert from "node:assert/strict";
import { appendJobEvent } from "../db/mod.ts";
import {
  type ApiHarness,
  KEY_B,
  METRICS_TOKEN,
  postJob,
  startApi,
  syntheticJob,
} from "./_api.ts";
import { SseReader } from "./_sse.ts";
import { redactToken, StreamTokens } from "../routes/_stream_token.ts";
import { loadConfig } from "../src/config.ts";

async function newJob(api: ApiHarness, key?: string): Promise<string> {
  const res = await postJob(api, syntheticJob(), key ? { key } : {});
  assert.equal(res.status, 201);
  return (await res.json()).id;
}

async function tokenFor(api: ApiHarness, id: string, key?: string) {
  const res = await api.call(`/v1/jobs/${id}/stream-token`, {
    method: "POST",
    ...(key ? { key } : {}),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  return await res.json() as { token: string; expires_at: string };
}

/** The stream with `?token=` and no Authorization header. */
function streamWith(api: ApiHarness, id: string, token: string) {
  return api.call(
    `/v1/jobs/${id}/events/stream?token=${encodeURIComponent(token)}`,
    { key: null, headers: { accept: "text/event-stream" } },
  );
}

async function assert401(res: Response) {
  assert.equal(res.status, 401);
  assert.match(
    res.headers.get("content-type") ?? "",
    /^application\/problem\+json/,
  );
  const body = await res.json();
  assert.equal(body.code, "unauthorized");
  assert.equal(body.status, 401);
  assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer /);
}

async function finish(api: ApiHarness, id: string) {
  await appendJobEvent(api.tdb.db, id, "step", {
    epoch: 1,
    step: 1,
    steps: 1,
    loss: 0.5,
    phase: "inversion",
  });
  await appendJobEvent(api.tdb.db, id, "status", { status: "succeeded" });
}

Deno.test("stream tokens", async (t) => {
  const api = await startApi();
  // Everything the process prints while tokens are in use, to look for them.
  const printed: string[] = [];
  const saved = { log: console.log, error: console.error, warn: console.warn };
  for (const name of ["log", "error", "warn"] as const) {
    console[name] = (...args: unknown[]) => {
      printed.push(args.map(String).join(" "));
      saved[name](...args);
    };
  }
  const issued: string[] = [];
  try {
    await t.step("a token streams its job's events", async () => {
      const id = await newJob(api);
      const { token, expires_at } = await tokenFor(api, id);
      issued.push(token);
      const ttl = Date.parse(expires_at) - Date.now();
      assert.ok(ttl > 250_000 && ttl <= 300_000, `default TTL 5 min: ${ttl}`);
      await finish(api, id);
      const res = await streamWith(api, id, token);
      assert.equal(res.status, 200);
      const sse = new SseReader(res.body!);
      const types = [];
      for (let f = await sse.next(); f; f = await sse.next()) {
        if (f.kind === "event") types.push(f.event);
      }
      assert.deepEqual(types, ["status", "step", "status"]);
    });

    await t.step("unknown and other tenants' jobs get 404", async () => {
      const bobs = await newJob(api, KEY_B);
      const res = await api.call(`/v1/jobs/${bobs}/stream-token`, {
        method: "POST",
      });
      assert.equal(res.status, 404);
      await res.body?.cancel();
      const unknown = await api.call(
        "/v1/jobs/00000000-0000-0000-0000-000000000000/stream-token",
        { method: "POST" },
      );
      assert.equal(unknown.status, 404);
      await unknown.body?.cancel();
      const noKey = await api.call(`/v1/jobs/${bobs}/stream-token`, {
        method: "POST",
        key: null,
      });
      await assert401(noKey);
    });

    await t.step("a token opens no other job, tenant or route", async () => {
      const id = await newJob(api);
      const other = await newJob(api);
      const bobs = await newJob(api, KEY_B);
      const { token } = await tokenFor(api, id);
      issued.push(token);
      await assert401(await streamWith(api, other, token));
      await assert401(await streamWith(api, bobs, token));
      const q = `token=${encodeURIComponent(token)}`;
      for (
        const [method, path] of [
          ["GET", `/v1/jobs/${id}`],
          ["GET", `/v1/jobs/${id}/events`],
          ["GET", `/v1/jobs/${id}/metrics`],
          ["GET", `/v1/jobs/${id}/model`],
          ["GET", "/v1/jobs"],
          ["POST", `/v1/jobs/${id}/cancel`],
          ["POST", `/v1/jobs/${id}/stream-token`],
          ["GET", "/v1/datasets"],
          ["HEAD", `/v1/jobs/${id}/events/stream`],
          ["GET", `/v1/jobs/${id}/events/stream/`],
        ]
      ) {
        const res = await api.call(`${path}?${q}`, {
          method,
          key: null,
          headers: { accept: "text/event-stream" },
        });
        assert.equal(res.status, 401, `${method} ${path}`);
        if (method !== "HEAD") await assert401(res);
      }
      // The legacy stream path is a JSON page too: strict, it is refused.
      await assert401(
        await api.call(`/v1/jobs/${id}/events?${q}`, {
          key: null,
          headers: { accept: "text/event-stream" },
        }),
      );
      // The job is still queued: nothing was cancelled by the refused POST.
      const job = await (await api.call(`/v1/jobs/${id}`)).json();
      assert.equal(job.status, "queued");
      // /metrics takes its own token, never a stream token.
      const metrics = await api.call(`/metrics?${q}`, { key: null });
      assert.equal(metrics.status, 401);
      await metrics.body?.cancel();
    });

    await t.step("tampered and malformed tokens get 401", async () => {
      const id = await newJob(api);
      const { token } = await tokenFor(api, id);
      issued.push(token);
      const [v, tenant, exp, sig] = token.split(".");
      const flip = (s: string) =>
        s.slice(0, -2) + (s.at(-2) === "A" ? "B" : "A") + s.at(-1);
      const bob = btoa("bob").replace(/=+$/, "");
      for (
        const bad of [
          [v, tenant, exp, flip(sig)].join("."),
          [v, bob, exp, sig].join("."),
          [v, tenant, String(Number(exp) + 60_000), sig].join("."),
          ["st2", tenant, exp, sig].join("."),
          token + "x",
          "",
          "not-a-token",
          "st1.%%%.1.x",
          "st1." + "A".repeat(128) + ".9".repeat(1) + "." + "A".repeat(43),
        ]
      ) await assert401(await streamWith(api, id, bad));
      // A well-formed token signed with another secret.
      const foreign = await (await StreamTokens.create("x".repeat(32)))
        .issue("alice", id);
      await assert401(await streamWith(api, id, foreign.token));
    });

    await t.step("the Authorization header wins over a token", async () => {
      const id = await newJob(api);
      await finish(api, id);
      const res = await api.call(
        `/v1/jobs/${id}/events/stream?token=garbage`,
        { headers: { accept: "text/event-stream" } },
      );
      assert.equal(res.status, 200);
      await res.body?.cancel();
    });

    await t.step("Deno's EventSource follows a job with ?token=", async () => {
      const id = await newJob(api);
      const { token } = await tokenFor(api, id);
      issued.push(token);
      const es = new EventSource(
        `${api.base}/v1/jobs/${id}/events/stream?token=${
          encodeURIComponent(token)
        }`,
      );
      try {
        const seen: string[] = [];
        const done = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`timed out; saw ${seen}`)),
            5000,
          );
          es.addEventListener("step", () => seen.push("step"));
          es.addEventListener("status", (e) => {
            const status = JSON.parse((e as MessageEvent).data).data.status;
            seen.push(status);
            if (status === "succeeded") {
              clearTimeout(timer);
              resolve();
            }
          });
        });
        await new Promise<void>((resolve, reject) => {
          es.onopen = () => resolve();
          es.onerror = () => reject(new Error("EventSource failed to open"));
        });
        es.onerror = null;
        await finish(api, id);
        await done;
        assert.deepEqual(seen, ["queued", "step", "succeeded"]);
      } finally {
        es.close();
      }
    });

    await t.step("no token reaches the logs or /metrics", async () => {
      const metrics = await (await api.call("/metrics", { key: METRICS_TOKEN }))
        .text();
      assert.ok(issued.length > 0);
      for (const token of issued) {
        assert.ok(!metrics.includes(token), "token in /metrics");
        assert.ok(
          !printed.some((line) => line.includes(token)),
          "token in the logs",
        );
        // Only route patterns label the series.
        assert.ok(!metrics.includes("?token"), "query in /metrics");
      }
      assert.match(metrics, /route="\/v1\/jobs\/:id\/events\/stream"/);
    });
  } finally {
    Object.assign(console, saved);
    await api.close();
  }
});

Deno.test("stream tokens expire after STREAM_TOKEN_TTL_S", async () => {
  const api = await startApi({ STREAM_TOKEN_TTL_S: "1" });
  try {
    const id = await newJob(api);
    await finish(api, id);
    const { token, expires_at } = await tokenFor(api, id);
    assert.ok(Date.parse(expires_at) - Date.now() <= 1000);
    const fresh = await streamWith(api, id, token);
    assert.equal(fresh.status, 200);
    await fresh.body?.cancel();
    await new Promise((r) =>
      setTimeout(r, Date.parse(expires_at) - Date.now() + 50)
    );
    await assert401(await streamWith(api, id, token));
  } finally {
    await api.close();
  }
});

Deno.test("a shared STREAM_TOKEN_SECRET makes tokens portable across processes", async () => {
  const secret = "s".repeat(40);
  const a = await StreamTokens.create(secret);
  const b = await StreamTokens.create(secret);
  const { token } = await a.issue("alice", "job-1");
  assert.equal(await b.verify(token, "job-1"), "alice");
  assert.equal(await b.verify(token, "job-2"), undefined);
  // Without a secret, each process has its own key.
  const c = await StreamTokens.create(undefined);
  assert.equal(await c.verify(token, "job-1"), undefined);
});

Deno.test("STREAM_TOKEN_* config is validated", () => {
  assert.equal(loadConfig({}).streamTokenTtlS, 300);
  assert.equal(loadConfig({}).streamTokenSecret, undefined);
  assert.throws(
    () => loadConfig({ STREAM_TOKEN_TTL_S: "0" }),
    /STREAM_TOKEN_TTL_S/,
  );
  assert.throws(
    () => loadConfig({ STREAM_TOKEN_SECRET: "short" }),
    /STREAM_TOKEN_SECRET/,
  );
});

Deno.test("redactToken hides the token query parameter only", () => {
  assert.equal(
    redactToken("/v1/jobs/x/events/stream?after=3&token=st1.abc.def&z=1"),
    "/v1/jobs/x/events/stream?after=3&token=REDACTED&z=1",
  );
  assert.equal(
    redactToken("http://h/p?%74oken=secret#frag"),
    "http://h/p?%74oken=REDACTED#frag",
  );
  assert.equal(redactToken("?token"), "?token=REDACTED");
  assert.equal(redactToken("/p?tokens=1"), "/p?tokens=1");
  assert.equal(redactToken("/p"), "/p");
  assert.equal(redactToken(""), "");
});
