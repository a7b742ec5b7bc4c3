/** The OpenAPI document: served, rendered as a page, and committed up to date. */
import assert from "node:assert/strict";
import { closeDb, createDb } from "../db/mod.ts";
import { createApp } from "../routes/mod.ts";
import { routeOptions } from "../src/route_options.ts";
import { loadConfig } from "../src/config.ts";
import { OPENAPI_YAML, renderOpenApiYaml } from "../src/openapi_yaml.ts";
import { listProblemCodes } from "../routes/problem.ts";
import { NO_BLOBS } from "./_api.ts";

Deno.test("openapi.yaml is up to date (run `deno task openapi` if not)", async () => {
  const committed = await Deno.readTextFile(OPENAPI_YAML);
  const fresh = await renderOpenApiYaml();
  assert.ok(
    committed === fresh,
    "openapi.yaml is stale: run `deno task openapi` and commit the result",
  );
});

Deno.test("GET /openapi.json describes every route; GET /docs renders it", async () => {
  const db = createDb("postgres://postgres@127.0.0.1:1/none", { max: 1 });
  try {
    const app = await createApp({
      db,
      blobs: NO_BLOBS,
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
      "/v1/jobs/{id}/events/stream",
      "/v1/jobs/{id}/metrics",
      "/v1/jobs/{id}/coefficients",
      "/v1/jobs/{id}/model",
      "/v1/jobs/{id}/model/weights.bin",
      "/v1/comparisons",
      "/v1/comparisons/{id}",
      "/v1/comparisons/{id}/events",
      "/v1/comparisons/{id}/events/stream",
      "/v1/datasets",
      "/v1/datasets/{id}",
      "/healthz",
      "/readyz",
      "/metrics",
    ];
    for (const path of expected) assert.ok(doc.paths[path], path);
    // One media type per operation: a generated client gets one type each.
    assert.deepEqual(
      Object.keys(
        doc.paths["/v1/jobs/{id}/events"].get.responses["200"].content,
      ),
      ["application/json"],
    );
    assert.deepEqual(
      Object.keys(
        doc.paths["/v1/jobs/{id}/events/stream"].get.responses["200"].content,
      ),
      ["text/event-stream"],
    );
    assert.deepEqual(doc.paths["/v1/jobs"].post.security, [{ bearer: [] }]);
    assert.deepEqual(doc.paths["/healthz"].get.security, []);
    // Every operation has a unique operationId, tags and declared security.
    const ids = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops as object)) {
        const where = `${method} ${path}`;
        assert.ok(op.operationId, `${where} has an operationId`);
        assert.ok(!ids.has(op.operationId), `${op.operationId} is unique`);
        ids.add(op.operationId);
        assert.ok(op.tags?.length, `${where} has tags`);
        assert.ok(Array.isArray(op.security), `${where} declares security`);
      }
    }
    assert.equal(
      doc.paths["/v1/jobs/{id}/events/stream"].get.operationId,
      "streamJobEvents",
    );
    // Requests may leave out defaults; responses have every field.
    const schemas = doc.components.schemas;
    assert.ok(!schemas.JobSpecInput.required.includes("epochs"));
    assert.ok(schemas.JobSpec.required.includes("epochs"));
    assert.equal(
      doc.paths["/v1/jobs"].post.requestBody.content["application/json"]
        .schema.$ref,
      "#/components/schemas/JobSpecInput",
    );
    assert.equal(schemas.JobEvent.discriminator.propertyName, "type");
    assert.ok(schemas.JobEvent.discriminator.mapping.job_error);
    assert.ok(doc.components.schemas.Problem);
    const page = await app.request("/docs");
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type")!, /^text\/html/);
    assert.match(
      page.headers.get("content-security-policy")!,
      /script-src 'self'/,
    );
    const html = await page.text();
    // swagger-ui renders the document client-side, from this origin only.
    assert.ok(html.includes('data-spec-url="/openapi.json"'));
    for (const { code } of listProblemCodes()) {
      assert.ok(html.includes(`id="problem-${code}"`), code);
    }
    const sources = [...html.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) =>
      m[1]
    );
    assert.ok(sources.includes("/assets/vendor/swagger-ui-bundle.js"));
    for (const url of sources) {
      assert.ok(/^(\/|#|data:)/.test(url), `${url} is served by this origin`);
    }
    for (const url of sources.filter((u) => u.startsWith("/assets/"))) {
      const asset = await app.request(url);
      assert.equal(asset.status, 200, url);
      await asset.body?.cancel();
    }
  } finally {
    await closeDb(db);
  }
});
