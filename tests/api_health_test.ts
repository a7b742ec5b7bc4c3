/** Health, readiness, Prometheus metrics, auth-off mode and the 500 path. */
import assert from "node:assert/strict";
import { closeDb, createDb, type Db } from "../db/mod.ts";
import { createApp, RouteOptionsError } from "../routes/mod.ts";
import { routeOptions } from "../src/route_options.ts";
import { loadConfig } from "../src/config.ts";
import {
  METRICS_TOKEN,
  NO_BLOBS,
  postJob,
  startApi,
  syntheticJob,
} from "./_api.ts";

Deno.test("healthz, readyz and metrics", async (t) => {
  const api = await startApi();
  try {
    await t.step("healthz and readyz answer without a key", async () => {
      for (const path of ["/healthz", "/readyz"]) {
        const res = await api.call(path, { key: null });
        assert.equal(res.status, 200);
        assert.deepEqual(await res.json(), { status: "ok" });
      }
    });

    await t.step(
      "metrics count requests by route pattern, not by raw path",
      async () => {
        const job = await (await postJob(api, syntheticJob())).json();
        await (await api.call(`/v1/jobs/${job.id}`)).body?.cancel();
        await (await api.call(`/v1/jobs/${crypto.randomUUID()}`)).body
          ?.cancel();
        await (await api.call("/v1/jobs", { key: null })).body?.cancel();
        const res = await api.call("/metrics", { key: METRICS_TOKEN });
        assert.equal(res.status, 200);
        assert.match(
          res.headers.get("content-type")!,
          /^text\/plain; version=0\.0\.4/,
        );
        const text = await res.text();
        assert.match(
          text,
          /^fngd_http_requests_total\{method="POST",route="\/v1\/jobs",status="201"\} 1$/m,
        );
        assert.match(
          text,
          /^fngd_http_requests_total\{method="GET",route="\/v1\/jobs\/:id",status="200"\} 1$/m,
        );
        assert.match(
          text,
          /^fngd_http_requests_total\{method="GET",route="\/v1\/jobs\/:id",status="404"\} 1$/m,
        );
        assert.match(
          text,
          /^fngd_http_requests_total\{method="GET",route="\/v1\/jobs",status="401"\} 1$/m,
        );
        assert.doesNotMatch(text, new RegExp(job.id));
        assert.match(text, /^fngd_sse_streams_open 0$/m);
        assert.match(text, /^# TYPE fngd_jobs gauge$/m);
        assert.match(text, /^fngd_jobs\{status="queued"\} 1$/m);
        assert.match(text, /^fngd_jobs\{status="succeeded"\} 0$/m);
      },
    );
  } finally {
    await api.close();
  }
});

Deno.test("readyz is 503 problem+json when the database is unreachable", async () => {
  // Nothing listens on port 1, so every connection is refused at once.
  const db = createDb("postgres://postgres@127.0.0.1:1/none", { max: 1 });
  try {
    const app = await createApp({
      db,
      blobs: NO_BLOBS,
      options: routeOptions(loadConfig({ API_KEYS: "k:t" }), {
        notifications: false,
      }),
    });
    const res = await app.request("/readyz");
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("content-type"), "application/problem+json");
    assert.equal((await res.json()).code, "not_ready");
  } finally {
    await closeDb(db);
  }
});

Deno.test("an unexpected error is a bare 500, logged with its stack", async () => {
  const failing = new Proxy({}, {
    get() {
      throw new Error("secret connection string postgres://admin:pw@db");
    },
  }) as Db;
  const app = await createApp({
    db: failing,
    blobs: NO_BLOBS,
    options: routeOptions(loadConfig({ API_KEYS: "k:t" }), {
      notifications: false,
    }),
  });
  const logged: unknown[][] = [];
  const originalError = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  let res: Response;
  try {
    res = await app.request(`/v1/jobs/${crypto.randomUUID()}`, {
      headers: { authorization: "Bearer k" },
    });
  } finally {
    console.error = originalError;
  }
  assert.equal(res.status, 500);
  const body = await res.json();
  assert.equal(body.code, "internal");
  assert.doesNotMatch(JSON.stringify(body), /secret|postgres|stack|at /);
  assert.equal(logged.length, 1);
  const err = logged[0].find((a) => a instanceof Error) as Error;
  assert.match(err.stack!, /secret connection string/);
});

Deno.test("without API_KEYS: one default tenant, on loopback only", async (t) => {
  const db = createDb("postgres://postgres@127.0.0.1:1/none", { max: 1 });
  try {
    await t.step("a non-loopback HOST refuses to start", async () => {
      await assert.rejects(
        () =>
          createApp({
            db,
            blobs: NO_BLOBS,
            options: routeOptions(loadConfig({ HOST: "0.0.0.0" }), {
              notifications: false,
            }),
            log: () => {},
          }),
        (e: unknown) =>
          e instanceof RouteOptionsError &&
          /API_KEYS is unset.*HOST is "0\.0\.0\.0"/.test(e.message),
      );
    });
    await t.step(
      "on loopback it starts, says auth is off, and needs no key",
      async () => {
        const lines: string[] = [];
        const app = await createApp({
          db,
          blobs: NO_BLOBS,
          options: routeOptions(loadConfig({ HOST: "127.0.0.1" }), {
            notifications: false,
          }),
          log: (m) => lines.push(m),
        });
        assert.match(lines.join("\n"), /auth is off/);
        // No key needed: validation runs (400), not auth (401).
        const res = await app.request("/v1/jobs?limit=0");
        assert.equal(res.status, 400);
        assert.equal((await res.json()).code, "validation_failed");
      },
    );
  } finally {
    await closeDb(db);
  }
});
