/** retryWhileDbDown retries lost connections only, and gives up when told to. */
import assert from "node:assert/strict";
import postgres from "postgres";
import { isConnectionError } from "../db/mod.ts";
import { retryWhileDbDown } from "../workers/retry_while_db_down.ts";

Deno.test("isConnectionError recognises a refused connection from postgres.js, through drizzle-style causes", async () => {
  // Nothing listens on port 1: the driver's own connection error, for real.
  const sql = postgres("postgres://postgres@127.0.0.1:1/none", {
    max: 1,
    connect_timeout: 2,
  });
  const err = await sql`select 1`.then(() => undefined, (e) => e);
  await sql.end({ timeout: 1 });
  assert.ok(err, "the query must fail");
  assert.equal(isConnectionError(err), true, String(err?.code));
  assert.equal(isConnectionError(new Error("wrapped", { cause: err })), true);
  assert.equal(
    isConnectionError(
      Object.assign(new Error("shutting down"), { code: "57P01" }),
    ),
    true,
  );
  assert.equal(
    isConnectionError(Object.assign(new Error("syntax"), { code: "42601" })),
    false,
  );
  assert.equal(isConnectionError(new Error("plain")), false);
});

Deno.test("retryWhileDbDown retries connection errors until the write succeeds", async () => {
  let calls = 0;
  const value = await retryWhileDbDown(() => {
    calls += 1;
    if (calls < 3) {
      return Promise.reject(
        Object.assign(new Error("down"), { code: "CONNECTION_CLOSED" }),
      );
    }
    return Promise.resolve("written");
  });
  assert.equal(value, "written");
  assert.equal(calls, 3);
});

Deno.test("retryWhileDbDown rethrows other errors, aborted retries and exhausted time at once", async (t) => {
  await t.step("a statement error is not retried", async () => {
    let calls = 0;
    await assert.rejects(
      retryWhileDbDown(() => {
        calls += 1;
        return Promise.reject(
          Object.assign(new Error("duplicate key"), { code: "23505" }),
        );
      }),
      /duplicate key/,
    );
    assert.equal(calls, 1);
  });
  await t.step("an aborted signal stops retrying", async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      retryWhileDbDown(
        () =>
          Promise.reject(
            Object.assign(new Error("down"), { code: "ECONNREFUSED" }),
          ),
        { signal: controller.signal },
      ),
      /down/,
    );
  });
  await t.step("the time limit ends the retries", async () => {
    let calls = 0;
    const started = Date.now();
    await assert.rejects(
      retryWhileDbDown(() => {
        calls += 1;
        return Promise.reject(
          Object.assign(new Error("down"), { code: "ECONNREFUSED" }),
        );
      }, { maxMs: 600 }),
      /down/,
    );
    assert.ok(calls >= 2 && Date.now() - started < 2000, `${calls} calls`);
  });
});
