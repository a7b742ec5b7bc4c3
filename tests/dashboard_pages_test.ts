/**
 * The dashboard's pages, fragments and files over real HTTP, without a
 * browser (tests/browser_dashboard_test.ts drives one): what each page
 * renders with and without API keys, that no tenant's data reaches a page
 * or fragment without that tenant's key, the page headers, the Host guard,
 * and that hostile paths and queries get a 4xx, never a 5xx.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type ApiHarness,
  KEY_A,
  KEY_B,
  postJob,
  startApi,
  syntheticJob,
} from "./_api.ts";
import { rawExchange } from "./_raw_http.ts";
import { JOBS_PER_PAGE } from "../routes/_dashboard_jobs.ts";

async function submit(
  api: ApiHarness,
  overrides: Record<string, unknown> = {},
  key: string | null = KEY_A,
): Promise<string> {
  const res = await postJob(api, syntheticJob(overrides), { key });
  assert.equal(res.status, 201, await res.clone().text());
  return (await res.json()).id;
}

async function page(
  api: ApiHarness,
  path: string,
  key: string | null = null,
): Promise<{ status: number; headers: Headers; html: string }> {
  const res = await api.call(path, { key });
  return { status: res.status, headers: res.headers, html: await res.text() };
}

Deno.test("auth off: the pages render the one tenant's jobs on the server", async (t) => {
  const api = await startApi({ API_KEYS: "" });
  try {
    const fngd = await submit(api, {}, null);
    const sgd = await submit(
      api,
      { optimizer: { name: "sgd", lr: 0.1 } },
      null,
    );

    await t.step(
      "GET / lists them, with status and optimizer filters",
      async () => {
        const all = await page(api, "/");
        assert.equal(all.status, 200);
        assert.match(all.headers.get("content-type")!, /^text\/html/);
        assert.ok(all.html.startsWith("<!doctype html>"));
        assert.ok(all.html.includes(`data-job-id="${fngd}"`));
        assert.ok(all.html.includes(`data-job-id="${sgd}"`));
        const onlySgd = await page(api, "/?optimizer=sgd");
        assert.ok(!onlySgd.html.includes(`data-job-id="${fngd}"`));
        assert.ok(onlySgd.html.includes(`data-job-id="${sgd}"`));
        const running = await page(api, "/?status=running");
        assert.ok(running.html.includes("No jobs match."));
        // Values that filter nothing are ignored, not refused.
        const odd = await page(api, "/?status=nope&optimizer=%3Cb%3E&after=1");
        assert.equal(odd.status, 200);
        assert.ok(odd.html.includes(`data-job-id="${fngd}"`));
      },
    );

    await t.step(
      "the job page embeds the summary; unknown ids are a 404 page",
      async () => {
        const job = await page(api, `/jobs/${fngd}`);
        assert.equal(job.status, 200);
        assert.ok(job.html.includes('id="job-summary" data-status="queued"'));
        assert.ok(job.html.includes(`data-job-id="${fngd}"`));
        for (
          const id of [
            crypto.randomUUID(),
            "nope",
            "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
            "x".repeat(5000),
          ]
        ) {
          const missing = await page(api, `/jobs/${id}`);
          assert.equal(missing.status, 404, id.slice(0, 40));
          assert.match(missing.headers.get("content-type")!, /^text\/html/);
          assert.ok(!missing.html.includes("<script>alert"));
        }
      },
    );

    await t.step("every page carries the CSP and framing headers", async () => {
      for (const path of ["/", `/jobs/${fngd}`, "/jobs/nope", "/docs"]) {
        const { headers } = await page(api, path);
        const csp = headers.get("content-security-policy") ?? "";
        assert.match(csp, /script-src 'self'(;|$)/, path);
        assert.match(csp, /frame-ancestors 'none'/, path);
        assert.equal(headers.get("x-frame-options"), "DENY", path);
      }
    });

    await t.step("a foreign Host gets 421 on the pages too", async () => {
      for (const path of ["/", `/jobs/${fngd}`, "/ui/jobs"]) {
        const res = await rawExchange(
          api.base,
          [
            `GET ${path} HTTP/1.1`,
            "Host: rebind.evil.example",
            "Connection: close",
          ],
          [],
          5000,
        );
        assert.equal(res.status, 421, path);
        assert.ok(!res.body.includes(fngd), path);
      }
    });
  } finally {
    await api.close();
  }
});

Deno.test("the list pages through a filter with its Older link", async () => {
  const api = await startApi({ API_KEYS: "" });
  try {
    const sgd = { optimizer: { name: "sgd", lr: 0.1 } };
    const older = [await submit(api, sgd, null), await submit(api, sgd, null)];
    const newer: string[] = [];
    for (let i = 0; i < JOBS_PER_PAGE; i++) {
      newer.push(await submit(api, sgd, null));
      await submit(api, {}, null);
    }
    const rows = (html: string) =>
      [...html.matchAll(/data-job-id="([^"]+)"/g)].map((m) => m[1]);
    const first = await page(api, "/?optimizer=sgd");
    assert.deepEqual(rows(first.html), newer.toReversed());
    const next = /href="(\/\?optimizer=sgd&amp;after=[^"]+)">Older</.exec(
      first.html,
    );
    assert.ok(next, "an Older link");
    const second = await page(api, next[1].replaceAll("&amp;", "&"));
    assert.deepEqual(rows(second.html), older.toReversed());
    assert.ok(!second.html.includes(">Older<"));
  } finally {
    await api.close();
  }
});

Deno.test("API keys on: pages are a shell, and fragments need the tenant's key", async (t) => {
  const api = await startApi();
  try {
    const alice = await submit(api, {}, KEY_A);
    const bob = await submit(api, {}, KEY_B);

    await t.step("the pages carry no tenant's data", async () => {
      const list = await page(api, "/");
      assert.equal(list.status, 200);
      assert.ok(list.html.includes('data-auth="required"'));
      assert.ok(!list.html.includes(alice) && !list.html.includes(bob));
      const job = await page(api, `/jobs/${alice}`);
      assert.equal(job.status, 200);
      assert.ok(!job.html.includes('data-status="queued"'));
      // A key on a page load changes nothing: the shell is the same.
      const keyed = await page(api, "/", KEY_A);
      assert.ok(!keyed.html.includes(alice));
      assert.equal((await page(api, "/jobs/not-a-uuid")).status, 404);
    });

    await t.step(
      "fragments answer 401 without a key, and per tenant with one",
      async () => {
        for (const path of ["/ui/jobs", `/ui/jobs/${alice}`]) {
          const res = await page(api, path, null);
          assert.equal(res.status, 401, path);
          assert.ok(!res.html.includes(alice));
        }
        const forAlice = await page(api, "/ui/jobs", KEY_A);
        assert.ok(forAlice.html.includes(`data-job-id="${alice}"`));
        assert.ok(!forAlice.html.includes(bob));
        const summary = await page(api, `/ui/jobs/${alice}`, KEY_A);
        assert.equal(summary.status, 200);
        assert.ok(summary.html.startsWith('<section id="job-summary"'));
        // Another tenant's job is exactly as absent as a job that never was.
        const foreign = await page(api, `/ui/jobs/${alice}`, KEY_B);
        const never = await page(api, `/ui/jobs/${crypto.randomUUID()}`, KEY_B);
        assert.equal(foreign.status, 404);
        assert.equal(never.status, 404);
      },
    );
  } finally {
    await api.close();
  }
});

Deno.test("assets: our own files and the pinned vendor builds, nothing else", async () => {
  const api = await startApi();
  try {
    for (
      const path of [
        "/assets/vendor/uPlot.iife.min.js",
        "/assets/vendor/uPlot.min.css",
        "/assets/vendor/swagger-ui-bundle.js",
        "/assets/vendor/swagger-ui.css",
        "/assets/app/job_page.js",
        "/assets/app/dashboard.css",
      ]
    ) {
      const res = await api.call(path, { key: null });
      assert.equal(res.status, 200, path);
      assert.match(
        res.headers.get("content-type")!,
        path.endsWith(".css") ? /^text\/css/ : /^text\/javascript/,
      );
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
      const etag = res.headers.get("etag")!;
      assert.ok((await res.arrayBuffer()).byteLength > 0);
      const again = await api.call(path, {
        key: null,
        headers: { "if-none-match": etag },
      });
      assert.equal(again.status, 304, path);
      await again.body?.cancel();
    }
    for (
      const path of [
        "/assets/app/..%2Fmod.ts",
        "/assets/app/%2e%2e%2fdashboard.tsx",
        "/assets/vendor/package.json",
        "/assets/node_modules/uplot",
        "/assets/app/",
      ]
    ) {
      const res = await api.call(path, { key: null });
      assert.equal(res.status, 404, path);
      await res.body?.cancel();
    }
  } finally {
    await api.close();
  }
});

Deno.test("hostile paths and queries on the pages never answer 5xx", async () => {
  const api = await startApi({ API_KEYS: "" });
  try {
    const id = await submit(api, {}, null);
    const segment = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.constantFrom(id, id.toUpperCase(), `${id}x`, "..", "%", "%00", "%zz"),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("/jobs/", "/ui/jobs/", "/assets/app/", "/?status="),
        segment,
        async (prefix, text) => {
          // Sent as typed where fetch allows it, so that broken escapes arrive.
          const raw = /^[\x21-\x7e]*$/.test(text) && !/[#?]/.test(text);
          const res = await fetch(
            `${api.base}${prefix}${raw ? text : encodeURIComponent(text)}`,
          );
          await res.body?.cancel();
          assert.ok(res.status < 500, `${prefix}${text}: ${res.status}`);
        },
      ),
      { seed: 20261128, numRuns: 300 },
    );
  } finally {
    await api.close();
  }
});
