/** /v1/jobs over real HTTP against a real database. */
import assert from "node:assert/strict";
import { KEY_B, postJob, startApi, syntheticJob } from "./_api.ts";

async function problem(res: Response, status: number, code: string) {
  assert.equal(res.status, status);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  const body = await res.json();
  assert.equal(body.status, status);
  assert.equal(body.code, code);
  assert.equal(body.type, `/docs#problem-${code}`);
  assert.equal(typeof body.title, "string");
  assert.equal(typeof body.detail, "string");
  return body;
}

Deno.test("jobs API", async (t) => {
  const api = await startApi();
  try {
    await t.step(
      "POST creates a queued job with defaults filled in",
      async () => {
        const res = await postJob(api, syntheticJob());
        assert.equal(res.status, 201);
        const job = await res.json();
        assert.match(job.id, /^[0-9a-f-]{36}$/);
        assert.equal(job.status, "queued");
        assert.equal(job.spec.seed, 42);
        assert.equal(job.spec.optimizer.damping, 1);
        assert.equal(job.max_attempts, 3);
        assert.equal(job.latest_metrics, null);
        assert.equal(job.result, null);
        assert.ok(!Number.isNaN(Date.parse(job.created_at)));
        const got = await api.call(`/v1/jobs/${job.id}`);
        assert.equal(got.status, 200);
        assert.deepEqual(await got.json(), job);
      },
    );

    await t.step("GET /v1/jobs pages newest first with a cursor", async () => {
      for (let i = 0; i < 4; i++) {
        assert.equal(
          (await postJob(api, syntheticJob({ seed: i }))).status,
          201,
        );
      }
      const all = await (await api.call("/v1/jobs?limit=100")).json();
      assert.equal(all.data.length, 5);
      assert.equal(all.has_more, false);
      const seen: string[] = [];
      let after = "";
      for (;;) {
        const page = await (await api.call(`/v1/jobs?limit=2${after}`)).json();
        seen.push(...page.data.map((j: { id: string }) => j.id));
        if (!page.has_more) break;
        assert.equal(page.data.length, 2);
        after = `&after=${page.data.at(-1).id}`;
      }
      assert.deepEqual(seen, all.data.map((j: { id: string }) => j.id));
      const created = all.data.map((j: { created_at: string }) => j.created_at);
      assert.deepEqual(created, [...created].sort().reverse());
    });

    await t.step("status filter and bad query", async () => {
      const queued = await (await api.call("/v1/jobs?status=queued")).json();
      assert.ok(queued.data.length >= 1);
      const none = await (await api.call("/v1/jobs?status=succeeded")).json();
      assert.deepEqual(none.data, []);
      const bad = await problem(
        await api.call("/v1/jobs?status=nope&limit=0"),
        400,
        "validation_failed",
      );
      assert.deepEqual(
        bad.errors.map((e: { path: string; in: string }) => `${e.in}:${e.path}`)
          .sort(),
        ["query:limit", "query:status"],
      );
      await problem(
        await api.call("/v1/jobs?after=xyz"),
        400,
        "validation_failed",
      );
    });

    await t.step("optimizer filter matches the spec's optimizer", async () => {
      const res = await postJob(
        api,
        syntheticJob({ optimizer: { name: "adamw", lr: 0.001 } }),
      );
      assert.equal(res.status, 201);
      const adamw = (await res.json()).id;
      const only = await (await api.call("/v1/jobs?optimizer=adamw")).json();
      assert.deepEqual(only.data.map((j: { id: string }) => j.id), [adamw]);
      // Every other job of this tenant was created with the default, fngd.
      const all = await (await api.call("/v1/jobs?limit=100")).json();
      const fngd = await (await api.call("/v1/jobs?optimizer=fngd&limit=100"))
        .json();
      assert.ok(fngd.data.length >= 1);
      assert.deepEqual(
        fngd.data.map((j: { id: string }) => j.id),
        all.data.map((j: { id: string }) => j.id).filter((id: string) =>
          id !== adamw
        ),
      );
      await problem(
        await api.call("/v1/jobs?optimizer=lbfgs"),
        400,
        "validation_failed",
      );
    });

    await t.step("missing or wrong key is 401 with a challenge", async () => {
      const none = await api.call("/v1/jobs", { key: null });
      assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="fngd"');
      await problem(none, 401, "unauthorized");
      const wrong = await api.call("/v1/jobs", { key: "not-a-key" });
      assert.match(wrong.headers.get("www-authenticate")!, /invalid_token/);
      await problem(wrong, 401, "unauthorized");
      const before = await api.count("jobs");
      await problem(
        await postJob(api, syntheticJob(), { key: null }),
        401,
        "unauthorized",
      );
      assert.equal(await api.count("jobs"), before);
    });

    await t.step(
      "another tenant's job is 404 everywhere, and never listed",
      async () => {
        const job = await (await postJob(api, syntheticJob())).json();
        for (const path of ["", "/events", "/metrics", "/coefficients"]) {
          await problem(
            await api.call(`/v1/jobs/${job.id}${path}`, { key: KEY_B }),
            404,
            "job_not_found",
          );
        }
        await problem(
          await api.call(`/v1/jobs/${job.id}/cancel`, {
            method: "POST",
            key: KEY_B,
          }),
          404,
          "job_not_found",
        );
        const bobs = await (await api.call("/v1/jobs", { key: KEY_B })).json();
        assert.deepEqual(bobs.data, []);
        assert.equal((await api.call(`/v1/jobs/${job.id}`)).status, 200);
        await problem(
          await api.call("/v1/jobs/not-a-uuid"),
          404,
          "job_not_found",
        );
      },
    );

    await t.step(
      "invalid bodies are 400 with field errors and write nothing",
      async (t) => {
        const jobs = await api.count("jobs");
        const events = await api.count("job_events");
        const cases: [string, unknown, string[]][] = [
          [
            "negative lr",
            syntheticJob({ optimizer: { name: "fngd", lr: -1 } }),
            ["optimizer.lr"],
          ],
          [
            "unknown optimizer",
            syntheticJob({ optimizer: { name: "lbfgs" } }),
            ["optimizer.name"],
          ],
          ["missing model", {
            dataset: { name: "synthetic" },
            optimizer: { name: "sgd" },
          }, ["model"]],
          ["batch_size too big", syntheticJob({ batch_size: 10000 }), [
            "batch_size",
          ]],
          ["unknown field", syntheticJob({ colour: "red" }), [""]],
          [
            "csv path dataset",
            syntheticJob({ dataset: { format: "csv", path: "/etc/passwd" } }),
            ["dataset"],
          ],
          [
            "idx path dataset",
            syntheticJob({
              dataset: { format: "idx", images: "a", labels: "b" },
            }),
            ["dataset"],
          ],
          [
            "unknown uploaded dataset",
            syntheticJob({ dataset: { id: crypto.randomUUID() } }),
            ["dataset.id"],
          ],
          ["not an object", [1, 2], [""]],
        ];
        for (const [name, body, paths] of cases) {
          await t.step(name, async () => {
            const p = await problem(
              await postJob(api, body),
              400,
              "validation_failed",
            );
            assert.deepEqual(
              p.errors.map((e: { path: string }) => e.path),
              paths,
            );
            for (const e of p.errors) {
              assert.equal(e.in, "body");
              assert.ok(e.message.length > 0);
            }
          });
        }
        const p = await problem(
          await postJob(api, syntheticJob({ batch_size: 10000 })),
          400,
          "validation_failed",
        );
        assert.equal(
          p.errors[0].message,
          "batch_size must be between 1 and 4096, got 10000",
        );
        const csv = await problem(
          await postJob(
            api,
            syntheticJob({ dataset: { format: "csv", path: "x.csv" } }),
          ),
          400,
          "validation_failed",
        );
        assert.match(csv.errors[0].message, /CLI only.*POST \/v1\/datasets/);
        assert.equal(await api.count("jobs"), jobs);
        assert.equal(await api.count("job_events"), events);
      },
    );

    await t.step("malformed JSON is 400, wrong media type 415", async () => {
      const jobs = await api.count("jobs");
      await problem(await postJob(api, '{"model": '), 400, "malformed_json");
      await problem(
        await api.call("/v1/jobs", {
          method: "POST",
          headers: { "content-type": "text/plain" },
          body: JSON.stringify(syntheticJob()),
        }),
        415,
        "unsupported_media_type",
      );
      assert.equal(await api.count("jobs"), jobs);
    });

    await t.step("a body over MAX_BODY_BYTES is 413", async () => {
      const jobs = await api.count("jobs");
      const metadata = { pad: "x".repeat(20 * 1024) };
      await problem(
        await postJob(api, syntheticJob({ metadata })),
        413,
        "payload_too_large",
      );
      // Without Content-Length the limit is enforced while reading the stream.
      const chunked = new ReadableStream({
        start(c) {
          c.enqueue(
            new TextEncoder().encode(
              JSON.stringify(syntheticJob({ metadata })),
            ),
          );
          c.close();
        },
      });
      await problem(
        await api.call("/v1/jobs", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: chunked,
        }),
        413,
        "payload_too_large",
      );
      assert.equal(await api.count("jobs"), jobs);
    });

    await t.step("Idempotency-Key returns the first job, one row", async () => {
      const jobs = await api.count("jobs");
      const headers = { "idempotency-key": "retry-me-1" };
      const first = await postJob(api, syntheticJob(), { headers });
      assert.equal(first.status, 201);
      const second = await postJob(api, syntheticJob(), { headers });
      assert.equal(second.status, 200);
      const [a, b] = [await first.json(), await second.json()];
      assert.equal(a.id, b.id);
      assert.equal(await api.count("jobs"), jobs + 1);
      // Same key, another tenant: a separate job.
      const bob = await postJob(api, syntheticJob(), { headers, key: KEY_B });
      assert.equal(bob.status, 201);
      assert.notEqual((await bob.json()).id, a.id);
      // Same key, different body: refused, nothing written.
      await problem(
        await postJob(api, syntheticJob({ epochs: 2 }), { headers }),
        422,
        "idempotency_key_reused",
      );
      assert.equal(await api.count("jobs"), jobs + 2);
    });

    await t.step("cancel is idempotent", async () => {
      const job = await (await postJob(api, syntheticJob())).json();
      const events = async () =>
        (await (await api.call(`/v1/jobs/${job.id}/events`)).json()).data;
      const once = await api.call(`/v1/jobs/${job.id}/cancel`, {
        method: "POST",
      });
      assert.equal(once.status, 200);
      const a = await once.json();
      assert.equal(a.status, "cancelled");
      assert.ok(a.cancel_requested_at);
      const n = (await events()).length;
      const twice = await api.call(`/v1/jobs/${job.id}/cancel`, {
        method: "POST",
      });
      assert.equal(twice.status, 200);
      const b = await twice.json();
      assert.equal(b.status, "cancelled");
      assert.equal(b.cancel_requested_at, a.cancel_requested_at);
      assert.equal((await events()).length, n);
    });
  } finally {
    await api.close();
  }
});
