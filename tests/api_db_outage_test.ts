/**
 * A database outage, made real with a TCP proxy between the API and the
 * test database (the machine's PostgreSQL keeps running): /v1 answers 503
 * `database_unavailable` with Retry-After, /readyz 503, each in under a
 * second, and both answer 200 again on their own once the proxy is restored.
 */
import assert from "node:assert/strict";
import { closeDb, createDb } from "../db/mod.ts";
import { createApp } from "../routes/mod.ts";
import { routeOptions } from "../src/route_options.ts";
import { loadConfig } from "../src/config.ts";
import { PROBLEM_MEDIA_TYPE } from "../routes/problem.ts";
import { createTestDb } from "./_db.ts";
import { waitFor } from "./_process.ts";
import { type OutageMode, startTcpProxy } from "./_tcp_proxy.ts";

const KEY = "outage-key";
/** The promise under test; the fetch itself gives up later, so a hang fails. */
const FAST_MS = 1000;

interface Timed {
  res: Response;
  ms: number;
}

Deno.test("a database outage answers 503 within a second and recovers on its own", async (t) => {
  const tdb = await createTestDb();
  const target = new URL(tdb.url);
  const proxy = startTcpProxy({
    hostname: target.hostname,
    port: Number(target.port),
  });
  const viaProxy = new URL(tdb.url);
  viaProxy.port = String(proxy.port);
  // The API's defaults (connect timeout included): only the pool is smaller.
  const db = createDb(viaProxy.toString(), { max: 4 });
  const app = await createApp({
    db,
    blobs: tdb.blobs,
    options: routeOptions(loadConfig({ API_KEYS: `${KEY}:outage` }), {
      notifications: false,
    }),
    log: () => {},
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    app.fetch,
  );
  const base = `http://127.0.0.1:${server.addr.port}`;

  async function timed(path: string): Promise<Timed> {
    const started = performance.now();
    const res = await fetch(base + path, {
      headers: { authorization: `Bearer ${KEY}` },
      signal: AbortSignal.timeout(10_000),
    });
    await res.body?.cancel().catch(() => {}); // keep the headers, drop the rest
    return { res, ms: performance.now() - started };
  }

  async function problem(path: string): Promise<Timed & { code: string }> {
    const started = performance.now();
    const res = await fetch(base + path, {
      headers: { authorization: `Bearer ${KEY}` },
      signal: AbortSignal.timeout(10_000),
    });
    const body = await res.json();
    return { res, ms: performance.now() - started, code: body.code };
  }

  async function assertUnavailable(path: string, code: string) {
    const { res, ms, code: got } = await problem(path);
    assert.ok(ms < FAST_MS, `${path} answered after ${ms.toFixed(0)} ms`);
    assert.equal(res.status, 503, path);
    assert.equal(res.headers.get("content-type"), PROBLEM_MEDIA_TYPE, path);
    assert.equal(got, code, path);
    assert.match(res.headers.get("retry-after") ?? "", /^[1-9]\d*$/, path);
  }

  const answersOk = (path: string) =>
    waitFor(
      async () => (await timed(path)).res.status === 200 ? true : undefined,
      5000,
      `${path} to answer 200 again`,
      100,
    );

  try {
    for (const mode of ["hang", "refuse"] as OutageMode[]) {
      await t.step(`new connections ${mode}`, async () => {
        assert.equal((await timed("/v1/jobs")).res.status, 200);
        assert.equal((await timed("/readyz")).res.status, 200);

        proxy.cut(mode);
        // Let the pool see its connections close, so that the first request
        // opens a new one and meets the outage there (the slow path: a hang
        // costs it the whole connect timeout).
        await new Promise((r) => setTimeout(r, 100));
        // Long enough for the retry interval to pass more than once, so
        // requests after a failed probe are covered too.
        const until = performance.now() + 2500;
        while (performance.now() < until) {
          await assertUnavailable("/v1/jobs", "database_unavailable");
          await assertUnavailable(
            `/v1/jobs/${crypto.randomUUID()}`,
            "database_unavailable",
          );
          await assertUnavailable("/readyz", "not_ready");
          await new Promise((r) => setTimeout(r, 100));
        }

        proxy.restore();
        await answersOk("/v1/jobs");
        await answersOk("/readyz");
      });
    }
  } finally {
    await server.shutdown();
    // 1 s, not 5: a query cut mid-flight leaves postgres.js's connection
    // thinking it is still busy, so end() waits for its timeout.
    await closeDb(db, 1);
    await proxy.close();
    await tdb.close();
  }
});
