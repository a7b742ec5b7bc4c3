/**
 * GET /metrics over real HTTP: who may read it (METRICS_TOKEN, never a
 * tenant key), the latency histogram by route pattern, the queue's depth,
 * and, after a real worker trained a job, claim latency and training steps
 * per second by optimizer.
 */
import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../src/config.ts";
import {
  type ApiHarness,
  KEY_A,
  KEY_B,
  METRICS_TOKEN,
  postJob,
  startApi,
  syntheticJob,
} from "./_api.ts";
import { waitFor } from "./_process.ts";
import { startWorker } from "./_worker.ts";

/** GET /metrics as `key` (null: no Authorization). */
function scrape(api: ApiHarness, key: string | null = METRICS_TOKEN) {
  return api.call("/metrics", { key });
}

/** The metrics text, as METRICS_TOKEN. */
async function metricsText(api: ApiHarness): Promise<string> {
  const res = await scrape(api);
  assert.equal(res.status, 200);
  return await res.text();
}

/** The value of the one sample whose line starts with `series`. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(series + " ")) {
      return Number(line.slice(series.length + 1));
    }
  }
  return undefined;
}

async function problem(res: Response, status: number, code: string) {
  assert.equal(res.status, status);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  const body = await res.json();
  assert.equal(body.code, code);
  return body;
}

Deno.test("METRICS_TOKEN is checked when loaded", () => {
  assert.equal(loadConfig({}).metricsToken, undefined);
  assert.equal(
    loadConfig({ METRICS_TOKEN: " 0123456789abcdef " }).metricsToken,
    "0123456789abcdef",
  );
  for (const bad of ["short", "has a space in it 0123", "é".repeat(20)]) {
    assert.throws(
      () => loadConfig({ METRICS_TOKEN: bad }),
      (e: unknown) =>
        e instanceof ConfigError && /METRICS_TOKEN must be/.test(e.message),
      bad,
    );
  }
  assert.throws(
    () =>
      loadConfig({
        API_KEYS: "0123456789abcdef:alice",
        METRICS_TOKEN: "0123456789abcdef",
      }),
    (e: unknown) =>
      e instanceof ConfigError && /differ from every API_KEYS key/.test(
        e.message,
      ),
  );
});

Deno.test("who may read /metrics", async (t) => {
  await t.step("keys on, token set: only the token opens it", async () => {
    const api = await startApi();
    try {
      const ok = await scrape(api);
      assert.equal(ok.status, 200);
      assert.match(ok.headers.get("content-type")!, /^text\/plain/);
      await ok.body?.cancel();

      const none = await scrape(api, null);
      await problem(none, 401, "unauthorized");
      assert.equal(
        none.headers.get("www-authenticate"),
        'Bearer realm="fngd-metrics"',
      );
      const wrong = await scrape(api, "not-the-metrics-token");
      await problem(wrong, 401, "unauthorized");
      assert.match(wrong.headers.get("www-authenticate")!, /invalid_token/);
      for (const key of [KEY_A, KEY_B]) {
        const body = await problem(await scrape(api, key), 403, "forbidden");
        assert.match(body.detail, /METRICS_TOKEN/);
      }
      // And the token is no tenant key.
      const jobs = await api.call("/v1/jobs", { key: METRICS_TOKEN });
      await problem(jobs, 401, "unauthorized");
    } finally {
      await api.close();
    }
  });

  await t.step("keys on, no token: disabled, whatever is sent", async () => {
    const api = await startApi({ METRICS_TOKEN: "" });
    try {
      for (const key of [null, KEY_A, METRICS_TOKEN]) {
        const body = await problem(
          await scrape(api, key),
          404,
          "metrics_disabled",
        );
        assert.match(body.detail, /METRICS_TOKEN is not/);
      }
    } finally {
      await api.close();
    }
  });

  await t.step("auth off: open without a token, closed with one", async () => {
    const open = await startApi({ API_KEYS: "", METRICS_TOKEN: "" });
    try {
      const res = await scrape(open, null);
      assert.equal(res.status, 200);
      await res.body?.cancel();
    } finally {
      await open.close();
    }
    const closed = await startApi({ API_KEYS: "" });
    try {
      await problem(await scrape(closed, null), 401, "unauthorized");
      const res = await scrape(closed);
      assert.equal(res.status, 200);
      await res.body?.cancel();
    } finally {
      await closed.close();
    }
  });
});

Deno.test("request latency by route pattern, and the queue", async (t) => {
  const api = await startApi();
  try {
    await t.step(
      "a bucket line per route pattern, never a raw id",
      async () => {
        const job = await (await postJob(api, syntheticJob())).json();
        await (await api.call(`/v1/jobs/${job.id}`)).body?.cancel();
        await (await api.call(`/v1/jobs/${job.id}/events?limit=5`)).body
          ?.cancel();
        // A method of the client's own is one series, not one per spelling.
        await (await api.call("/v1/jobs", { method: "FROB" })).body?.cancel();
        const text = await metricsText(api);
        assert.match(
          text,
          /^# TYPE fngd_http_request_duration_seconds histogram$/m,
        );
        for (
          const [method, route, status] of [
            ["POST", "/v1/jobs", 201],
            ["GET", "/v1/jobs/:id", 200],
            ["GET", "/v1/jobs/:id/events", 200],
          ]
        ) {
          const labels =
            `method="${method}",route="${route}",status="${status}"`;
          assert.equal(
            sample(
              text,
              `fngd_http_request_duration_seconds_bucket{le="+Inf",${labels}}`,
            ),
            1,
            labels,
          );
          assert.match(
            text,
            new RegExp(
              `^fngd_http_request_duration_seconds_bucket\\{le="0\\.005",${
                labels.replaceAll("/", "\\/")
              }\\} [01]$`,
              "m",
            ),
          );
          assert.ok(
            sample(text, `fngd_http_request_duration_seconds_sum{${labels}}`)! >
              0,
          );
        }
        assert.match(text, /method="OTHER"/);
        assert.doesNotMatch(text, /FROB/);
        assert.doesNotMatch(text, new RegExp(job.id));
      },
    );

    await t.step(
      "queue depth and the oldest wait follow queued jobs",
      async () => {
        const first = await metricsText(api);
        assert.equal(sample(first, "fngd_queue_depth"), 1);
        const more = await Promise.all(
          [1, 2].map(async () =>
            await (await postJob(api, syntheticJob(), { key: KEY_B })).json()
          ),
        );
        await new Promise((r) => setTimeout(r, 20));
        const three = await metricsText(api);
        assert.equal(sample(three, "fngd_queue_depth"), 3);
        assert.equal(sample(three, 'fngd_jobs{status="queued"}'), 3);
        assert.ok(sample(three, "fngd_queue_oldest_wait_seconds")! > 0);
        for (const job of more) {
          const res = await api.call(`/v1/jobs/${job.id}/cancel`, {
            method: "POST",
            key: KEY_B,
          });
          assert.equal(res.status, 200);
          await res.body?.cancel();
        }
        const one = await metricsText(api);
        assert.equal(sample(one, "fngd_queue_depth"), 1);
        assert.equal(sample(one, 'fngd_jobs{status="cancelled"}'), 2);
        // Nothing claimed yet: the claim histogram is there, and empty.
        assert.equal(sample(one, "fngd_job_claim_latency_seconds_count"), 0);
        assert.equal(
          sample(one, 'fngd_job_claim_latency_seconds_bucket{le="+Inf"}'),
          0,
        );
        assert.doesNotMatch(one, /^fngd_training_steps_per_second\{/m);
      },
    );
  } finally {
    await api.close();
  }
});

Deno.test("claim latency and steps per second after a worker trained a job", async () => {
  const api = await startApi();
  const worker = startWorker(api.tdb);
  try {
    const job = await (await postJob(
      api,
      syntheticJob({ epochs: 2, optimizer: { name: "sgd", lr: 0.1 } }),
    )).json();
    const done = await waitFor(
      async () => {
        const row = await (await api.call(`/v1/jobs/${job.id}`)).json();
        return ["succeeded", "failed", "cancelled"].includes(row.status)
          ? row
          : undefined;
      },
      120_000,
      `job ${job.id} to finish`,
      200,
    );
    assert.equal(done.status, "succeeded", JSON.stringify(done.error));

    const text = await metricsText(api);
    assert.equal(sample(text, "fngd_queue_depth"), 0);
    assert.equal(sample(text, "fngd_job_claim_latency_seconds_count"), 1);
    const wait = sample(text, "fngd_job_claim_latency_seconds_sum")!;
    const claimed =
      (Date.parse(done.started_at) - Date.parse(done.created_at)) /
      1000;
    assert.ok(Math.abs(wait - claimed) < 0.01, `${wait} vs ${claimed}`);
    assert.equal(
      sample(text, 'fngd_job_claim_latency_seconds_bucket{le="+Inf"}'),
      1,
    );
    // Cumulative: once a bucket holds the job, every larger one does.
    const buckets = [...text.matchAll(
      /^fngd_job_claim_latency_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm,
    )].map((m) => Number(m[2]));
    assert.deepEqual(buckets, [...buckets].sort((a, b) => a - b));

    const epochs = (await (await api.call(`/v1/jobs/${job.id}/metrics`))
      .json()).data as { steps: number; seconds: number }[];
    assert.equal(epochs.length, 2);
    const expected = epochs.reduce((n, e) => n + e.steps, 0) /
      epochs.reduce((n, e) => n + e.seconds, 0);
    const rate = sample(
      text,
      'fngd_training_steps_per_second{optimizer="sgd",phase="train"}',
    );
    assert.ok(rate !== undefined, text);
    assert.ok(Math.abs(rate - expected) <= 1e-9 * expected, `${rate}`);
  } finally {
    await worker.stop();
    await api.close();
  }
});
