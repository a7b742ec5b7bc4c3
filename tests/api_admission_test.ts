/**
 * Admission control over real HTTP against a real database: impossible specs
 * (400 invalid_spec), oversized jobs (422 too_large with the estimate) and the
 * per-tenant queue quota (429 with Retry-After). None of them writes a row.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../src/config.ts";
import { assessJob, formatBytes, JobSpec } from "../src/engine/mod.ts";
import { QUEUE_RETRY_AFTER_SECONDS } from "../routes/_job_admission.ts";
import {
  type ApiHarness,
  KEY_B,
  postJob,
  startApi,
  syntheticJob,
} from "./_api.ts";

async function problem(res: Response, status: number, code: string) {
  assert.equal(res.status, status);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  const body = await res.json();
  assert.equal(body.status, status);
  assert.equal(body.code, code);
  assert.equal(body.type, `/docs#problem-${code}`);
  assert.equal(typeof body.detail, "string");
  return body;
}

/** Posts `body` and checks the refusal wrote no job and no event. */
async function refused(
  api: ApiHarness,
  body: unknown,
  status: number,
  code: string,
) {
  const jobs = await api.count("jobs");
  const events = await api.count("job_events");
  const p = await problem(await postJob(api, body), status, code);
  assert.equal(await api.count("jobs"), jobs, "a refused job was written");
  assert.equal(await api.count("job_events"), events);
  return p;
}

/** Flatten + dense 10 over images of `shape`: the model of a reported 6 GB blow-up. */
const imageJob = (dataset: Record<string, unknown>, shape: number[]) =>
  syntheticJob({
    model: {
      input_shape: shape,
      layers: [{ type: "flatten" }, { type: "dense", units: 10 }],
    },
    dataset: { name: "synthetic", ...dataset },
  });

Deno.test("POST /v1/jobs refuses specs the engine cannot run, writing nothing", async (t) => {
  const api = await startApi();
  try {
    await t.step("a reported blow-up: 2 samples of 4096x4096x3", async () => {
      const body = imageJob(
        { samples: 2, shape: [4096, 4096, 3], classes: 10 },
        [4096, 4096, 3],
      );
      const p = await refused(api, body, 400, "validation_failed");
      assert.deepEqual(p.errors.map((e: { path: string }) => e.path), [
        "dataset",
      ]);
      assert.match(
        p.errors[0].message,
        /^synthetic dataset would take 4\.63 GiB \(384 MiB of samples \+ 4\.25 GiB of generator basis\), at most 512 MiB/,
      );
      assert.equal(await api.count("jobs"), 0);
    });

    await t.step("a dense layer after a conv without flatten", async () => {
      const p = await refused(
        api,
        syntheticJob({
          model: {
            input_shape: [8, 8, 1],
            layers: [
              { type: "conv2d", filters: 4, kernel_size: 3 },
              { type: "dense", units: 3 },
            ],
          },
          dataset: { name: "synthetic", shape: [8, 8, 1], classes: 3 },
        }),
        400,
        "invalid_spec",
      );
      assert.deepEqual(p.errors, [{
        path: "model.layers.1",
        in: "body",
        message:
          "model.layers[1]: dense expects a flat input, got shape [6,6,4]; add a flatten layer before it",
      }]);
      assert.match(p.detail, /engine cannot run this spec: model\.layers\[1\]/);
    });

    const cases: [string, Record<string, unknown>, string, RegExp][] = [
      [
        "a pool larger than its input",
        {
          model: {
            input_shape: [3, 3, 1],
            layers: [
              { type: "max_pool2d", pool_size: 4 },
              { type: "flatten" },
              { type: "dense", units: 3 },
            ],
          },
          dataset: { name: "synthetic", shape: [3, 3, 1], classes: 3 },
        },
        "model.layers.0.pool_size",
        /pool \[4,4\] does not fit input \[3,3,1\]/,
      ],
      [
        "a strided conv whose wide patches have no gradient",
        {
          model: {
            input_shape: [9, 9, 1],
            layers: [
              { type: "conv2d", filters: 12, kernel_size: 3 },
              { type: "conv2d", filters: 2, kernel_size: 3, strides: 2 },
              { type: "flatten" },
              { type: "dense", units: 3 },
            ],
          },
          dataset: { name: "synthetic", shape: [9, 9, 1], classes: 3 },
        },
        "model.layers.1.strides",
        /strides \[2,2\] need patches of at most 100 values/,
      ],
      [
        "too few output units for the classes",
        { dataset: { name: "synthetic", features: 8, classes: 5 } },
        "model.layers.1.units",
        /3 units but the dataset has 5 classes/,
      ],
      [
        "an input shape the samples do not fill",
        { dataset: { name: "fashion-mnist" } },
        "model.input_shape",
        /input_shape \[8\] has 8 values but dataset samples have shape \[28,28,1\]/,
      ],
    ];
    for (const [label, overrides, path, pattern] of cases) {
      await t.step(label, async () => {
        const p = await refused(
          api,
          syntheticJob(overrides),
          400,
          "invalid_spec",
        );
        assert.equal(p.errors.length, 1);
        assert.equal(p.errors[0].path, path);
        assert.match(p.errors[0].message, pattern);
      });
    }

    await t.step(
      "uploaded datasets are checked against their stored shape",
      async () => {
        const csv = "label,a,b,c\n" +
          Array.from({ length: 20 }, (_, i) => `${i % 3},1,2,3`).join("\n");
        const fd = new FormData();
        fd.append("name", "tiny");
        fd.append("format", "csv");
        fd.append("file", new Blob([csv]), "tiny.csv");
        const up = await api.call("/v1/datasets", { method: "POST", body: fd });
        assert.equal(up.status, 201);
        const { id } = await up.json();
        const p = await refused(
          api,
          syntheticJob({ dataset: { id } }),
          400,
          "invalid_spec",
        );
        assert.equal(p.errors[0].path, "model.input_shape");
        assert.match(p.errors[0].message, /shape \[3\] \(3 values\)/);
        const ok = await postJob(
          api,
          syntheticJob({
            model: { input_shape: [3], layers: [{ type: "dense", units: 3 }] },
            dataset: { id },
          }),
        );
        assert.equal(ok.status, 201);
      },
    );
  } finally {
    await api.close();
  }
});

Deno.test("POST /v1/jobs refuses jobs estimated over MAX_JOB_BYTES with the estimate", async (t) => {
  const body = syntheticJob({
    model: {
      input_shape: [64],
      layers: [{ type: "dense", units: 256, activation: "relu" }, {
        type: "dense",
        units: 10,
      }],
    },
    dataset: { name: "synthetic", samples: 2048, features: 64, classes: 10 },
    batch_size: 128,
  });
  const estimate = assessJob(JobSpec.parse(body)).estimate;
  const limit = estimate.bytes.total_bytes;
  // A few MiB: far below any real worker's limit.
  assert.ok(limit > 1024 ** 2 && limit < 8 * 1024 ** 2, `${limit}`);
  const api = await startApi({ MAX_JOB_BYTES: String(limit) });
  try {
    await t.step("just under (at) the limit is accepted", async () => {
      const res = await postJob(api, body);
      assert.equal(res.status, 201);
      assert.equal(await api.count("jobs"), 1);
    });

    await t.step(
      "just over the limit is 422 too_large, broken down",
      async () => {
        // One more sample adds its features, label and one-hot: a few hundred bytes.
        const over = {
          ...body,
          dataset: { ...body.dataset, samples: 2049 },
        };
        const p = await refused(api, over, 422, "too_large");
        assert.equal(p.limit_bytes, limit);
        const e = p.estimate;
        assert.deepEqual(Object.keys(e).sort(), [
          "activations",
          "checkpoint",
          "curvature",
          "dataset",
          "optimizer_state",
          "parameters",
          "total_bytes",
        ]);
        assert.ok(e.total_bytes > limit && e.total_bytes < limit + 1024);
        assert.equal(
          e.parameters + e.optimizer_state + e.activations + e.curvature +
            e.dataset + e.checkpoint,
          e.total_bytes,
        );
        // 64*256+256 + 256*10+10 floats.
        assert.equal(e.parameters, (64 * 256 + 256 + 2570) * 4);
        assert.ok(e.curvature > 0, "fngd's Gram matrices are counted");
        assert.ok(p.flops_per_step > 2 * 128 * 64 * 256);
        assert.ok(
          p.detail.startsWith(
            `the job would need about ${
              formatBytes(e.total_bytes)
            } of memory (parameters 75 KiB, `,
          ),
          p.detail,
        );
        assert.match(
          p.detail,
          /, at most \d\.\d+ MiB allowed; lower batch_size/,
        );
      },
    );

    await t.step("a named dataset is sized without its files", async () => {
      const p = await refused(
        api,
        syntheticJob({
          model: {
            input_shape: [28, 28, 1],
            layers: [{ type: "flatten" }, { type: "dense", units: 10 }],
          },
          dataset: { name: "fashion-mnist" },
        }),
        422,
        "too_large",
      );
      // 70000 images as loaded and shuffled alone exceed 300 MB.
      assert.ok(p.estimate.dataset > 300e6, `${p.estimate.dataset}`);
    });

    await t.step("a retry of an admitted job still gets it", async () => {
      const headers = { "idempotency-key": "admitted-1" };
      const first = await postJob(api, body, { headers });
      assert.equal(first.status, 201);
      const again = await postJob(api, body, { headers });
      assert.equal(again.status, 200);
      assert.equal((await again.json()).id, (await first.json()).id);
    });
  } finally {
    await api.close();
  }
});

Deno.test("POST /v1/jobs answers 429 with Retry-After past MAX_QUEUED_PER_TENANT", async (t) => {
  const api = await startApi({ MAX_QUEUED_PER_TENANT: "3" });
  try {
    const ids: string[] = [];
    await t.step("three queued jobs are accepted", async () => {
      for (let i = 0; i < 3; i++) {
        const res = await postJob(api, syntheticJob({ seed: i }), {
          headers: { "idempotency-key": `quota-${i}` },
        });
        assert.equal(res.status, 201);
        ids.push((await res.json()).id);
      }
    });

    await t.step("the fourth is refused and writes nothing", async () => {
      const res = await postJob(api, syntheticJob({ seed: 3 }));
      assert.equal(res.headers.get("retry-after"), "30");
      assert.equal(QUEUE_RETRY_AFTER_SECONDS, 30);
      const p = await problem(res, 429, "too_many_queued_jobs");
      assert.match(p.detail, /at most 3 queued jobs per tenant, found 3/);
      assert.equal(await api.count("jobs"), 3);
      assert.equal(await api.count("job_events"), 3);
    });

    await t.step("an idempotent retry still returns its job", async () => {
      const res = await postJob(api, syntheticJob({ seed: 1 }), {
        headers: { "idempotency-key": "quota-1" },
      });
      assert.equal(res.status, 200);
      assert.equal((await res.json()).id, ids[1]);
      // The same key with another body is still the key-reuse error.
      await problem(
        await postJob(api, syntheticJob({ seed: 9 }), {
          headers: { "idempotency-key": "quota-1" },
        }),
        422,
        "idempotency_key_reused",
      );
    });

    await t.step("another tenant is unaffected", async () => {
      const res = await postJob(api, syntheticJob(), { key: KEY_B });
      assert.equal(res.status, 201);
    });

    await t.step("a cancelled job frees its slot", async () => {
      const cancel = await api.call(`/v1/jobs/${ids[0]}/cancel`, {
        method: "POST",
      });
      assert.equal((await cancel.json()).status, "cancelled");
      const res = await postJob(api, syntheticJob({ seed: 4 }));
      assert.equal(res.status, 201);
      await problem(
        await postJob(api, syntheticJob({ seed: 5 })),
        429,
        "too_many_queued_jobs",
      );
    });
  } finally {
    await api.close();
  }
});

Deno.test("the OpenAPI document declares 400, 422 and 429 for POST /v1/jobs", async () => {
  const api = await startApi();
  try {
    const doc = await (await api.call("/openapi.json")).json();
    const responses = doc.paths["/v1/jobs"].post.responses;
    assert.match(responses["400"].description, /invalid_spec/);
    assert.match(responses["422"].description, /too_large/);
    const schema = responses["422"].content["application/problem+json"].schema;
    assert.equal(schema.$ref, "#/components/schemas/TooLargeProblem");
    const props = doc.components.schemas.TooLargeProblem.properties ??
      doc.components.schemas.TooLargeProblem.allOf?.[1]?.properties;
    assert.ok(props.estimate && props.limit_bytes && props.flops_per_step);
    assert.ok(responses["429"].headers["Retry-After"]);
  } finally {
    await api.close();
  }
});

Deno.test("loadConfig parses the admission limits", () => {
  const c = loadConfig({});
  assert.equal(c.maxJobBytes, 3 * 1024 ** 3);
  assert.equal(c.maxQueuedPerTenant, 1000);
  assert.equal(c.maxRunningPerTenant, 0);
  const set = loadConfig({
    MAX_JOB_BYTES: "512MiB",
    MAX_QUEUED_PER_TENANT: "0",
    MAX_RUNNING_PER_TENANT: "2",
  });
  assert.equal(set.maxJobBytes, 512 * 1024 ** 2);
  assert.equal(set.maxQueuedPerTenant, 0);
  assert.equal(set.maxRunningPerTenant, 2);
  assert.throws(
    () => loadConfig({ MAX_JOB_BYTES: "lots", MAX_QUEUED_PER_TENANT: "-1" }),
    /MAX_JOB_BYTES must be a positive size like 1048576 or 64MiB, got "lots"[\s\S]*MAX_QUEUED_PER_TENANT must be an integer between 0 and 1000000, got "-1"/,
  );
});
