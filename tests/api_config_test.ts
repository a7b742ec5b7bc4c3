/** loadConfig: every variable parsed once, with errors that name the variable. */
import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../src/config.ts";
import { BACKEND_NAMES } from "../src/engine/backend_names.ts";
import { isLoopbackHost } from "../routes/_browser_guard.ts";

Deno.test("loadConfig fills in defaults", () => {
  const c = loadConfig({});
  assert.equal(c.databaseUrl, undefined);
  assert.equal(c.dataDir, "./.data");
  assert.equal(c.host, "127.0.0.1");
  assert.equal(c.port, 8787);
  assert.equal(c.apiKeys, undefined);
  assert.equal(c.workers, 1);
  assert.equal(c.gpus, undefined);
  assert.equal(c.leaseSeconds, 30);
  assert.equal(c.maxAttempts, 3);
  assert.equal(c.backend, "wasm");
  assert.equal(c.maxUploadBytes, 64 * 1024 * 1024);
  assert.equal(c.maxBodyBytes, 1024 * 1024);
  assert.equal(c.sseHeartbeatMs, 15_000);
});

Deno.test("loadConfig parses keys, GPU lists and sizes", async (t) => {
  await t.step("API_KEYS maps keys to tenants", () => {
    const c = loadConfig({ API_KEYS: "k1:tenantA, k2:tenantB" });
    assert.deepEqual([...c.apiKeys!], [["k1", "tenantA"], ["k2", "tenantB"]]);
  });
  await t.step("GPUS is a count or a list", () => {
    assert.deepEqual(loadConfig({ GPUS: "2" }).gpus, [0, 1]);
    assert.deepEqual(loadConfig({ GPUS: "1,3" }).gpus, [1, 3]);
    assert.deepEqual(loadConfig({ GPUS: "0" }).gpus, []);
  });
  await t.step("sizes take binary units", () => {
    const c = loadConfig({ MAX_UPLOAD_BYTES: "8 MiB", MAX_BODY_BYTES: "2048" });
    assert.equal(c.maxUploadBytes, 8 * 1024 * 1024);
    assert.equal(c.maxBodyBytes, 2048);
  });
  await t.step("PORT 0 asks for a free port; empty strings are unset", () => {
    assert.equal(loadConfig({ PORT: "0" }).port, 0);
    assert.equal(loadConfig({ API_KEYS: "", PORT: " " }).apiKeys, undefined);
  });
});

Deno.test("loadConfig reports every bad variable by name", () => {
  assert.throws(
    () =>
      loadConfig({
        PORT: "http",
        FNGD_BACKEND: "gpu",
        API_KEYS: "justakey",
        MAX_UPLOAD_BYTES: "lots",
        DATABASE_URL: "mysql://x",
      }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(
        e.message,
        /PORT must be an integer between 0 and 65535, got "http"/,
      );
      assert.match(
        e.message,
        /FNGD_BACKEND must be one of wasm, cpu, tensorflow, webgpu, got "gpu"/,
      );
      assert.match(e.message, /API_KEYS entries must look like key:tenant/);
      assert.match(e.message, /MAX_UPLOAD_BYTES must be a positive size/);
      assert.match(e.message, /DATABASE_URL must be a postgres:\/\/ URL/);
      return true;
    },
  );
});

Deno.test("isLoopbackHost accepts only loopback names", () => {
  for (const h of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"]) {
    assert.equal(isLoopbackHost(h), true, h);
  }
  for (const h of ["0.0.0.0", "10.0.0.1", "::", "example.com"]) {
    assert.equal(isLoopbackHost(h), false, h);
  }
});

Deno.test("FNGD_BACKEND accepts exactly the engine's backends", () => {
  for (const name of BACKEND_NAMES) {
    assert.equal(loadConfig({ FNGD_BACKEND: name }).backend, name);
  }
  assert.throws(
    () => loadConfig({ FNGD_BACKEND: "metal" }),
    /FNGD_BACKEND must be one of wasm, cpu, tensorflow, webgpu/,
  );
});

Deno.test("FNGD_THREADS defaults to 1 and takes an integer from 1 to 64", () => {
  assert.equal(loadConfig({}).threads, 1);
  assert.equal(loadConfig({ FNGD_THREADS: "2" }).threads, 2);
  for (const bad of ["0", "65", "two"]) {
    assert.throws(
      () => loadConfig({ FNGD_THREADS: bad }),
      new RegExp(
        `FNGD_THREADS must be an integer between 1 and 64, got "${bad}"`,
      ),
    );
  }
});
