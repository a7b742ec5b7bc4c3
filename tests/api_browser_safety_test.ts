/**
 * What a hostile web page can do to the API through its visitor's browser:
 * DNS rebinding (a foreign Host), cross-site posts (a foreign Origin), CORS
 * for configured origins, bodies built to exhaust validation, and numbers
 * past Postgres' int range. Over real HTTP against a real database.
 */
import assert from "node:assert/strict";
import { type ApiHarness, postJob, startApi, syntheticJob } from "./_api.ts";
import { parseResponse } from "./_raw_http.ts";

/** A parsed raw HTTP response. */
interface RawResponse {
  status: number;
  headers: Headers;
  body: string;
}

/**
 * One HTTP/1.1 request written by hand: fetch replaces a Host header with
 * the URL's, and a rebinding browser sends its own name there.
 */
async function rawRequest(
  api: ApiHarness,
  path: string,
  opts: { host: string; method?: string; headers?: Record<string, string> },
): Promise<RawResponse> {
  const url = new URL(api.base);
  const conn = await Deno.connect({
    hostname: url.hostname,
    port: Number(url.port),
  });
  try {
    const lines = [
      `${opts.method ?? "GET"} ${path} HTTP/1.1`,
      `Host: ${opts.host}`,
      "Connection: close",
      ...Object.entries(opts.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
    ];
    await conn.write(new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n"));
    const bytes = new Uint8Array(
      await new Response(conn.readable).arrayBuffer(),
    );
    const parsed = parseResponse(new TextDecoder().decode(bytes));
    return { ...parsed, status: parsed.status ?? 0 };
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed by reading to the end.
    }
  }
}

/** Asserts a problem+json answer with this status and code; returns its body. */
async function problem(
  res: Response | RawResponse,
  status: number,
  code: string,
) {
  assert.equal(res.status, status);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  const body = res instanceof Response
    ? await res.json()
    : JSON.parse(res.body);
  assert.equal(body.status, status);
  assert.equal(body.code, code);
  return body;
}

function csvForm(name: string): FormData {
  const fd = new FormData();
  fd.append("name", name);
  fd.append("format", "csv");
  fd.append(
    "file",
    new Blob(["label,a,b\n0,1,2\n1,3,4\n2,5,6\n0,7,8\n"]),
    "data.csv",
  );
  return fd;
}

Deno.test("auth off: the Host must be a loopback name or PUBLIC_HOST", async (t) => {
  const api = await startApi({
    API_KEYS: "",
    PUBLIC_HOST: "Trainer.Internal.Example",
  });
  const port = new URL(api.base).port;
  try {
    await t.step("a rebinding page's Host gets 421 problem+json", async () => {
      for (
        const host of ["rebind.evil.example", `rebind.evil.example:${port}`]
      ) {
        const res = await rawRequest(api, "/v1/jobs", { host });
        const body = await problem(res, 421, "misdirected_request");
        assert.match(body.detail, /rebind\.evil\.example/);
        assert.ok(!res.body.includes('"data"'));
      }
      // Not only /v1: the reference page and metrics are refused too.
      const docs = await rawRequest(api, "/metrics", {
        host: "rebind.evil.example",
      });
      await problem(docs, 421, "misdirected_request");
    });

    await t.step("hosts that only name this machine are answered", async () => {
      for (
        const host of [
          `127.0.0.1:${port}`,
          `localhost:${port}`,
          "localhost",
          `[::1]:${port}`,
          `app.localhost:${port}`,
          `LOCALHOST.:${port}`,
        ]
      ) {
        const res = await rawRequest(api, "/v1/jobs", { host });
        assert.equal(res.status, 200, host);
        assert.deepEqual(JSON.parse(res.body).data, []);
      }
    });

    await t.step(
      "PUBLIC_HOST is answered, with or without a port",
      async () => {
        for (
          const host of [
            "trainer.internal.example",
            "trainer.internal.example:443",
          ]
        ) {
          const res = await rawRequest(api, "/v1/jobs", { host });
          assert.equal(res.status, 200, host);
        }
        // A name that merely ends like it is someone else's.
        const res = await rawRequest(api, "/v1/jobs", {
          host: "evil-trainer.internal.example",
        });
        await problem(res, 421, "misdirected_request");
      },
    );

    await t.step("a Host with user info or garbage is refused", async () => {
      for (const host of ["evil.example@127.0.0.1", "127.0.0.1.evil.example"]) {
        const res = await rawRequest(api, "/v1/jobs", { host });
        await problem(res, 421, "misdirected_request");
      }
    });
  } finally {
    await api.close();
  }
});

Deno.test("auth on: a foreign Host is not refused (keys protect it)", async () => {
  const api = await startApi();
  try {
    const res = await rawRequest(api, "/v1/jobs", {
      host: "rebind.evil.example",
      headers: { authorization: "Bearer key-alice-0123456789" },
    });
    assert.equal(res.status, 200);
    const anonymous = await rawRequest(api, "/v1/jobs", {
      host: "rebind.evil.example",
    });
    await problem(anonymous, 401, "unauthorized");
  } finally {
    await api.close();
  }
});

Deno.test("Origin: cross-site posts are refused, same-site and no-Origin pass", async (t) => {
  const api = await startApi({ API_KEYS: "" });
  try {
    await t.step(
      "a cross-origin multipart upload gets 403, nothing stored",
      async () => {
        const res = await api.call("/v1/datasets", {
          method: "POST",
          key: null,
          headers: { origin: "http://evil.example" },
          body: csvForm("stolen"),
        });
        const body = await problem(res, 403, "forbidden_origin");
        assert.match(body.detail, /evil\.example/);
        assert.equal(await api.count("datasets"), 0);
        const list = await (await api.call("/v1/datasets", { key: null }))
          .json();
        assert.deepEqual(list.data, []);
      },
    );

    await t.step(
      "a cross-origin JSON post and Origin: null get 403",
      async () => {
        for (const origin of ["https://evil.example", "null"]) {
          const res = await postJob(api, syntheticJob(), {
            key: null,
            headers: { origin },
          });
          await problem(res, 403, "forbidden_origin");
        }
        // Same host, other port or scheme: a different origin.
        const port = Number(new URL(api.base).port);
        for (
          const origin of [
            `http://127.0.0.1:${port + 1}`,
            `https://127.0.0.1:${port}`,
          ]
        ) {
          const res = await postJob(api, syntheticJob(), {
            key: null,
            headers: { origin },
          });
          await problem(res, 403, "forbidden_origin");
        }
        assert.equal(await api.count("jobs"), 0);
      },
    );

    await t.step("reads with a foreign Origin are not refused", async () => {
      const res = await api.call("/v1/jobs", {
        key: null,
        headers: { origin: "https://evil.example" },
      });
      assert.equal(res.status, 200);
      // No CORS: the browser will not let the page read it.
      assert.equal(res.headers.get("access-control-allow-origin"), null);
      await res.body?.cancel();
    });

    await t.step("same-origin and Origin-less posts pass", async () => {
      const same = await postJob(api, syntheticJob(), {
        key: null,
        headers: { origin: api.base },
      });
      assert.equal(same.status, 201);
      await same.body?.cancel();
      const bare = await postJob(api, syntheticJob(), { key: null });
      assert.equal(bare.status, 201);
      await bare.body?.cancel();
      assert.equal(await api.count("jobs"), 2);
      const upload = await api.call("/v1/datasets", {
        method: "POST",
        key: null,
        headers: { origin: api.base },
        body: csvForm("mine"),
      });
      assert.equal(upload.status, 201, await upload.text());
      assert.equal(await api.count("datasets"), 1);
    });

    await t.step(
      "without CORS_ORIGINS a preflight gets no CORS headers",
      async () => {
        const res = await api.call("/v1/jobs", {
          method: "OPTIONS",
          key: null,
          headers: {
            origin: "https://app.example.com",
            "access-control-request-method": "POST",
          },
        });
        assert.equal(res.headers.get("access-control-allow-origin"), null);
        await res.body?.cancel();
      },
    );
  } finally {
    await api.close();
  }
});

Deno.test("CORS_ORIGINS: listed origins get CORS and may post", async (t) => {
  const app = "https://app.example.com";
  const api = await startApi({ CORS_ORIGINS: `${app}, http://localhost:5173` });
  try {
    await t.step("the preflight of a listed origin is answered", async () => {
      const res = await api.call("/v1/jobs", {
        method: "OPTIONS",
        key: null,
        headers: {
          origin: app,
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization, content-type",
        },
      });
      assert.equal(res.status, 204);
      assert.equal(res.headers.get("access-control-allow-origin"), app);
      assert.match(res.headers.get("access-control-allow-methods")!, /POST/);
      assert.match(
        res.headers.get("access-control-allow-headers")!,
        /authorization/i,
      );
      await res.body?.cancel();
    });

    await t.step("a listed origin posts and reads", async () => {
      const res = await postJob(api, syntheticJob(), {
        headers: { origin: app },
      });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get("access-control-allow-origin"), app);
      await res.body?.cancel();
      // Errors carry the header too, or the page could not read them.
      const bad = await postJob(api, { epochs: -1 }, {
        headers: { origin: app },
      });
      await problem(bad, 400, "validation_failed");
      assert.equal(bad.headers.get("access-control-allow-origin"), app);
    });

    await t.step(
      "an unlisted origin gets neither CORS nor a write",
      async () => {
        const before = await api.count("jobs");
        const pre = await api.call("/v1/jobs", {
          method: "OPTIONS",
          key: null,
          headers: {
            origin: "https://evil.example",
            "access-control-request-method": "POST",
          },
        });
        assert.equal(pre.headers.get("access-control-allow-origin"), null);
        await pre.body?.cancel();
        const res = await postJob(api, syntheticJob(), {
          headers: { origin: "https://evil.example" },
        });
        await problem(res, 403, "forbidden_origin");
        assert.equal(await api.count("jobs"), before);
      },
    );
  } finally {
    await api.close();
  }
});

Deno.test("bodies are bounded before validation", async (t) => {
  const api = await startApi({ MAX_BODY_BYTES: "1MiB" });
  try {
    await t.step(
      "a 130,000-element array is 400 with a small body",
      async () => {
        const res = await postJob(
          api,
          syntheticJob({
            model: { input_shape: Array(130_000).fill("x"), layers: [] },
          }),
        );
        const text = await res.text();
        assert.ok(text.length < 64 * 1024, `${text.length} bytes`);
        assert.equal(res.status, 400);
        const body = JSON.parse(text);
        assert.equal(body.code, "json_too_complex");
        assert.match(body.detail, /model\.input_shape.*130000 entries/);
        assert.equal(await api.count("jobs"), 0);
      },
    );

    await t.step("nesting deeper than 32 is 400", async () => {
      let deep: unknown = 1;
      for (let i = 0; i < 40; i++) deep = [deep];
      const res = await postJob(api, syntheticJob({ extra: deep }));
      const body = await problem(res, 400, "json_too_complex");
      assert.match(body.detail, /deeper than 32/);
      // Far deeper still parses and is refused, not a stack overflow.
      const res2 = await postJob(
        api,
        `{"a":${"[".repeat(200_000)}${"]".repeat(200_000)}}`,
      );
      await problem(res2, 400, "json_too_complex");
    });

    await t.step(
      "more than 20 invalid fields: 20 listed, the rest counted",
      async () => {
        const res = await postJob(
          api,
          syntheticJob({
            model: {
              input_shape: Array(5_000).fill("x"),
              layers: [{ type: "dense", units: 4 }],
            },
          }),
        );
        const text = await res.text();
        assert.ok(text.length < 64 * 1024, `${text.length} bytes`);
        const body = JSON.parse(text);
        assert.equal(res.status, 400);
        assert.equal(body.code, "validation_failed");
        assert.equal(body.errors.length, 20);
        assert.ok(body.errors_omitted >= 4_980, String(body.errors_omitted));
        assert.match(
          body.detail,
          new RegExp(
            `has ${
              20 + body.errors_omitted
            } invalid.*and ${body.errors_omitted} more`,
          ),
        );
      },
    );

    await t.step(
      "no 500 from malformed JSON, a wrong type or a huge string",
      async () => {
        await problem(
          await postJob(api, '{"model": [1, 2'),
          400,
          "malformed_json",
        );
        const plain = await api.call("/v1/jobs", {
          method: "POST",
          headers: { "content-type": "text/plain" },
          body: JSON.stringify(syntheticJob()),
        });
        assert.ok([400, 415].includes(plain.status), String(plain.status));
        await plain.body?.cancel();
        const huge = await postJob(
          api,
          syntheticJob({ optimizer: { name: "x".repeat(900_000) } }),
        );
        const text = await huge.text();
        assert.equal(huge.status, 400);
        assert.ok(text.length < 64 * 1024, `${text.length} bytes`);
        const many = await postJob(
          api,
          Object.fromEntries(
            Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i]),
          ),
        );
        await problem(many, 400, "json_too_complex");
      },
    );
  } finally {
    await api.close();
  }
});

Deno.test("numeric headers and query parameters stay within int4", async (t) => {
  const api = await startApi();
  try {
    const job = await (await postJob(api, syntheticJob())).json();
    await t.step(
      "Last-Event-ID past int4 is 400 naming the header",
      async () => {
        const res = await api.call(`/v1/jobs/${job.id}/events`, {
          headers: {
            accept: "text/event-stream",
            "last-event-id": "2147483648",
          },
        });
        const body = await problem(res, 400, "validation_failed");
        assert.equal(body.errors[0].path, "last-event-id");
        assert.equal(body.errors[0].in, "header");
        const stream = await api.call(`/v1/jobs/${job.id}/events/stream`, {
          headers: { "last-event-id": "2147483648" },
        });
        const streamBody = await problem(stream, 400, "validation_failed");
        assert.equal(streamBody.errors[0].path, "last-event-id");
        assert.equal(streamBody.errors[0].in, "header");
        // The largest int4 is still a valid resume point.
        const ok = await api.call(`/v1/jobs/${job.id}/events`, {
          headers: { "last-event-id": "2147483647" },
        });
        assert.equal(ok.status, 200);
        await ok.body?.cancel();
      },
    );

    await t.step("a comparison cursor past int4 is 400", async () => {
      const created = await api.call("/v1/comparisons", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          spec: {
            model: syntheticJob().model,
            dataset: syntheticJob().dataset,
            epochs: 1,
            batch_size: 16,
          },
          optimizers: [{ name: "sgd", lr: 0.1 }],
          seeds: [1],
        }),
      });
      assert.equal(created.status, 201, await created.clone().text());
      const { id } = await created.json();
      const res = await api.call(`/v1/comparisons/${id}/events`, {
        headers: {
          accept: "text/event-stream",
          "last-event-id": "2147483648",
        },
      });
      const body = await problem(res, 400, "validation_failed");
      assert.equal(body.errors[0].path, "last-event-id");
    });

    await t.step(
      "bad numeric query parameters are 400 naming them",
      async () => {
        const cases: [string, string][] = [
          ["/v1/jobs?limit=abc", "limit"],
          ["/v1/jobs?limit=1e2", "limit"],
          ["/v1/jobs?limit=-1", "limit"],
          ["/v1/jobs?limit=", "limit"],
          [`/v1/jobs/${job.id}/events?after=2147483648`, "after"],
          [`/v1/jobs/${job.id}/events?after=99999999999999999999`, "after"],
          [`/v1/jobs/${job.id}/events?limit=0x10`, "limit"],
          [`/v1/jobs/${job.id}/coefficients?batch=0&layer=2147483648`, "layer"],
          [`/v1/jobs/${job.id}/coefficients?batch=0&layer=0&epoch=0`, "epoch"],
        ];
        for (const [path, name] of cases) {
          const res = await api.call(path);
          const body = await problem(res, 400, "validation_failed");
          assert.ok(
            body.errors.some((e: { path: string; in: string }) =>
              e.path === name && e.in === "query"
            ),
            `${path}: ${JSON.stringify(body.errors)}`,
          );
        }
        const ok = await api.call(
          `/v1/jobs/${job.id}/events?after=2147483647&limit=1000`,
        );
        assert.equal(ok.status, 200);
        await ok.body?.cancel();
      },
    );
  } finally {
    await api.close();
  }
});
