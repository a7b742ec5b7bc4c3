/**
 * What tests/api_fuzz_test.ts found, one case each, over real HTTP: a Host
 * that is no valid URL authority (Deno.serve builds request.url from it),
 * a body without a Content-Type, and error bodies that quoted a huge key.
 */
import assert from "node:assert/strict";
import {
  type ApiHarness,
  KEY_A,
  postJob,
  startApi,
  syntheticJob,
} from "./_api.ts";
import { rawExchange } from "./_raw_http.ts";

/** A request written by hand, as alice, with `host` and `headers`. */
function send(
  api: ApiHarness,
  requestLine: string,
  host: string,
  headers: string[],
  body = "",
) {
  return rawExchange(
    api.base,
    [
      requestLine,
      `Host: ${host}`,
      `Authorization: Bearer ${KEY_A}`,
      "Connection: close",
      ...headers,
      ...(body
        ? [`Content-Length: ${new TextEncoder().encode(body).length}`]
        : []),
    ],
    body ? [{ bytes: body }] : [],
    10_000,
  );
}

Deno.test("a Host that does not parse as a URL authority is no 500", async (t) => {
  const api = await startApi();
  const job = JSON.stringify(syntheticJob());
  try {
    for (const host of ["127.0.0.1:99999", "[::1", "a b"]) {
      await t.step(`Host: ${host}`, async () => {
        // A body: it is read through a wrapper that must not rebuild the
        // request from its URL.
        const created = await send(api, "POST /v1/jobs HTTP/1.1", host, [
          "Content-Type: application/json",
        ], job);
        assert.equal(created.status, 201, created.body);
        // An Origin on a write: the guard compares it with the request's own.
        const foreign = await send(api, "POST /v1/jobs HTTP/1.1", host, [
          "Content-Type: application/json",
          "Origin: https://evil.example",
        ], job);
        assert.equal(foreign.status, 403, foreign.body);
        assert.equal(JSON.parse(foreign.body).code, "forbidden_origin");
      });
    }
    assert.equal(await api.count("jobs"), 3);
  } finally {
    await api.close();
  }
});

Deno.test("a body without a Content-Type is 415, not 500", async () => {
  const api = await startApi();
  try {
    const res = await send(
      api,
      "POST /v1/jobs HTTP/1.1",
      new URL(api.base).host,
      [],
      JSON.stringify(syntheticJob()),
    );
    assert.equal(res.status, 415, res.body);
    assert.equal(JSON.parse(res.body).code, "unsupported_media_type");
    assert.equal(await api.count("jobs"), 0);
  } finally {
    await api.close();
  }
});

Deno.test("problems that quote the request stay small", async (t) => {
  const api = await startApi({ MAX_BODY_BYTES: "1MiB" });
  try {
    const cases: [string, unknown][] = [
      ["a 400 KB unknown key", { ...syntheticJob(), ["x".repeat(400_000)]: 1 }],
      [
        "a 400 KB unknown key in a layer",
        syntheticJob({
          model: {
            input_shape: [8],
            layers: [{ type: "dense", units: 3, ["z".repeat(400_000)]: 1 }],
          },
        }),
      ],
      [
        "9,000 unknown keys",
        Object.fromEntries(
          Array.from({ length: 9_000 }, (_, i) => [`k${i}`, i]),
        ),
      ],
    ];
    for (const [what, body] of cases) {
      await t.step(what, async () => {
        const res = await postJob(api, body);
        const text = await res.text();
        assert.equal(res.status, 400, text.slice(0, 300));
        assert.ok(text.length < 8 * 1024, `${text.length} bytes`);
        const problem = JSON.parse(text);
        assert.equal(problem.code, "validation_failed");
        for (const e of problem.errors) {
          assert.ok(e.message.length <= 600, e.message.slice(0, 100));
        }
        assert.ok(
          problem.errors.some((e: { message: string }) =>
            /Unrecognized key.*characters in all\)$/.test(e.message)
          ),
          JSON.stringify(problem.errors).slice(0, 300),
        );
      });
    }
    assert.equal(await api.count("jobs"), 0);
  } finally {
    await api.close();
  }
});
