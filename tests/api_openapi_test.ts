/** The OpenAPI document: served, rendered as a page, and committed up to date. */
import assert from "node:assert/strict";
import { closeDb, createDb } from "../db/mod.ts";
import { createApp } from "../routes/mod.ts";
import { routeOptions } from "../src/route_options.ts";
import { loadConfig } from "../src/config.ts";
import { OPENAPI_YAML, renderOpenApiYaml } from "../src/openapi_yaml.ts";
import { listProblemCodes } from "../routes/problem.ts";

Deno.test("openapi.yaml is up to date (run `deno task openapi` if not)", async () => {
  const committed = await Deno.readTextFile(OPENAPI_YAML);
  const fresh = await renderOpenApiYaml();
  assert.ok(
    committed === fresh,
    "openapi.yaml is stale: run `deno task openapi` and commit the result",
  );
});

Deno.test("GET /openapi.json and GET /docs describe every route", async () => {
  const db = createDb("postgres://postgres@127.0.0.1:1/none", { max: 1 });
  try {
    const app = await createApp({
      db,
      options: routeOptions(loadConfig({ API_KEYS: "k:t" }), {
        notifications: false,
      }),
    });
    const doc = await (await app.request("/openapi.json")).json();
    assert.equal(doc.openapi, "3.1.0");
    const expected = [
      "/v1/jobs",
      "/v1/jobs/{id}",
      "/v1/jobs/{id}/cancel",
      "/v1/jobs/{id}/events",
      "/v1/jobs/{id}/metrics",
      "/v1/jobs/{id}/coefficients",
      "/v1/jobs/{id}/model",
      "/v1/jobs/{id}/model/weights.bin",
      "/v1/comparisons",
      "/v1/comparisons/{id}",
      "/v1/comparisons/{id}/events",
      "/v1/datasets",
      "/v1/datasets/{id}",
      "/healthz",
      "/readyz",
      "/metrics",
    ];
    for (const path of expected) assert.ok(doc.paths[path], path);
    assert.ok(
      doc.paths["/v1/jobs/{id}/events"].get.responses["200"]
        .content["text/event-stream"],
    );
    assert.deepEqual(doc.paths["/v1/jobs"].post.security, [{ bearer: [] }]);
    assert.ok(doc.components.schemas.JobSpec);
    assert.ok(doc.components.schemas.Problem);
    const page = await app.request("/docs");
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type")!, /^text\/html/);
    const html = await page.text();
    for (const path of expected) {
      assert.ok(html.includes(`<code>${path}</code>`), path);
    }
    for (const { code } of listProblemCodes()) {
      assert.ok(html.includes(`id="problem-${code}"`), code);
    }
    assert.doesNotMatch(html, /<script src=|<link [^>]*href="http/);
  } finally {
    await closeDb(db);
  }
});
