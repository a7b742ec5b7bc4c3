/**
 * The whole service as a user meets it: `deno task start` as a subprocess,
 * driven through the SDK (sdk/): a job submitted, its SSE stream followed to
 * the end, then metrics, coefficients and the model downloaded. Once on embedded PGlite (no DATABASE_URL) with its blobs in
 * S3 (a local s3rver: the data is uploaded as CSV, so the worker reads it
 * from S3 and writes checkpoints and the model there), once on the real
 * Postgres of DATABASE_URL when it is set, with blobs in DATA_DIR/blobs.
 */
import assert from "node:assert/strict";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { makeSyntheticDataset } from "../src/engine/data/mod.ts";
import { SyntheticDatasetSpec } from "../src/engine/spec.ts";
import {
  createFngdClient,
  FngdApiError,
  type JobEvent,
  type JobSpecInput,
} from "../sdk/mod.ts";
import { createTestDb } from "./_db.ts";
import { spawnDeno } from "./_process.ts";
import { type LocalS3, startLocalS3 } from "./_s3.ts";

const KEY = "e2e-secret";

/** 3 epochs of FNGD on a small synthetic MLP (2 trainable layers). */
// `satisfies`: the SDK's request type accepts it, and SPEC keeps its literal type.
const SPEC = {
  model: {
    input_shape: [32],
    layers: [
      { type: "dense", units: 32, activation: "relu" },
      { type: "dense", units: 5 },
    ],
  },
  dataset: {
    name: "synthetic",
    samples: 1024,
    features: 32,
    classes: 5,
    seed: 2,
  },
  optimizer: { name: "fngd", lr: 0.05, momentum: 0.9, damping: 1.0 },
  epochs: 3,
  batch_size: 64,
  seed: 11,
  validation_split: 0.1,
} satisfies JobSpecInput;
const TRAINABLE_LAYERS = 2;

/** SPEC's synthetic training data as an uploadable CSV. */
function syntheticCsv(): Uint8Array<ArrayBuffer> {
  const data = makeSyntheticDataset(SyntheticDatasetSpec.parse(SPEC.dataset));
  const features = SPEC.dataset.features;
  const lines = [
    [...Array.from({ length: features }, (_, i) => `f${i}`), "label"].join(","),
  ];
  for (let r = 0; r < data.y.length; r++) {
    const row = Array.from(data.x.subarray(r * features, (r + 1) * features));
    lines.push([...row, data.y[r]].join(","));
  }
  return new TextEncoder().encode(lines.join("\n") + "\n");
}

async function runScenario(
  databaseUrl: string,
  s3?: LocalS3,
): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "fngd_e2e_" });
  const service = spawnDeno(["task", "start"], {
    ...s3?.env("e2e/"),
    DATABASE_URL: databaseUrl, // "" means unset: embedded PGlite
    DATA_DIR: dataDir,
    HOST: "127.0.0.1",
    PORT: "0",
    WORKERS: "1",
    API_KEYS: `${KEY}:e2e`,
    LEASE_SECONDS: "10",
    FNGD_BACKEND: "wasm",
    // Fewer than the job's 3 epochs, so a collected checkpoint shows below.
    CHECKPOINTS_KEPT: "2",
  });
  try {
    const line = await service.waitForLine(
      (l) => l.startsWith("listening on http://"),
      120_000,
    );
    const base = line.slice("listening on ".length).trim();
    const auth = { authorization: `Bearer ${KEY}` };

    await assert.rejects(
      () => createFngdClient({ baseUrl: base }).jobs.list(),
      (err) => err instanceof FngdApiError && err.status === 401,
    );

    let spec: Record<string, unknown> = SPEC;
    if (s3) {
      const fd = new FormData();
      fd.append("name", "synthetic.csv");
      fd.append("format", "csv");
      fd.append("file", new Blob([syntheticCsv()]), "synthetic.csv");
      const uploaded = await fetch(`${base}/v1/datasets`, {
        method: "POST",
        headers: auth,
        body: fd,
      });
      assert.equal(uploaded.status, 201, await uploaded.clone().text());
      spec = { ...SPEC, dataset: { id: (await uploaded.json()).id } };
    }
    // The SDK is the client from here on, as it is for users.
    const sdk = createFngdClient({ baseUrl: base, apiKey: KEY });
    const job = await sdk.jobs.create(spec as JobSpecInput);
    assert.equal(job.status, "queued");

    const events: JobEvent[] = [];
    const final = await sdk.jobs.wait(job.id, {
      onEvent: (e) => events.push(e),
      signal: AbortSignal.timeout(180_000),
    });
    const seqs = events.map((e) => e.seq);
    assert.deepEqual(seqs, seqs.map((_, i) => i + 1), "gap-free, in order");
    const last = events.at(-1)!;
    assert.ok(last.type === "status", last.type);
    assert.equal(last.data.status, "succeeded", service.output());

    const epochs = events.flatMap((e) => e.type === "epoch" ? [e.data] : []);
    assert.deepEqual(epochs.map((e) => e.phase), [
      "inversion",
      "inverse_free",
      "inverse_free",
    ]);
    const batches = epochs[0].steps;

    const metrics = await sdk.jobs.metrics(job.id);
    assert.deepEqual(metrics.map((m) => m.epoch), [1, 2, 3]);

    const coefficients = await sdk.jobs.coefficients(job.id);
    assert.ok(coefficients.kind === "summary", coefficients.kind);
    assert.equal(coefficients.layers.length, TRAINABLE_LAYERS);
    const event = events.find((e) => e.type === "coefficients");
    assert.ok(event?.type === "coefficients");
    const liveLayers = event.data.layers;
    for (const [i, stored] of coefficients.layers.entries()) {
      const live = liveLayers[i];
      for (const k of ["layer", "batches", "damping"] as const) {
        assert.equal(stored[k], live[k], k);
      }
      for (const k of ["mean", "min", "max"] as const) {
        assert.ok(
          Math.abs(stored[k] - live[k]) <=
            1e-6 * Math.max(1, Math.abs(live[k])),
          `stored ${k} ${stored[k]} matches the event's ${live[k]}`,
        );
      }
    }
    assert.equal(
      coefficients.layers.reduce((n, l) => n + l.batches, 0),
      batches * TRAINABLE_LAYERS,
      "one vector per (batch, trainable layer)",
    );

    assert.ok(last.data.result, "the terminal status carries the result");
    const { counters } = last.data.result;
    assert.equal(counters.steps, batches * 3);
    assert.equal(
      counters.solves,
      batches * TRAINABLE_LAYERS,
      "every solve happened in epoch 1: none after",
    );

    assert.equal(final.status, "succeeded");
    assert.equal(final.attempts, 1);
    assert.deepEqual(final.result, last.data.result);

    const downloaded = await sdk.models.download(job.id, `${dataDir}/model`);
    const modelJson = JSON.parse(await Deno.readTextFile(downloaded.modelJson));
    assert.equal(modelJson.format, "layers-model");
    assert.deepEqual(modelJson.weightsManifest[0].paths, ["weights.bin"]);
    assert.equal((await Deno.stat(downloaded.weights)).size, 4 * 1221);

    const weights = await fetch(`${base}/v1/jobs/${job.id}/model/weights.bin`, {
      headers: auth,
    });
    assert.equal(weights.status, 200);
    // 32x32 + 32 + 32x5 + 5 float32 values.
    assert.equal((await weights.arrayBuffer()).byteLength, 4 * 1221);
    if (s3) {
      const listed = await s3.client.send(
        new ListObjectsV2Command({ Bucket: s3.bucket }),
      );
      const keys = (listed.Contents ?? []).map((o) => o.Key!);
      // The dataset, and for each of the 2 kept checkpoints its weights,
      // optimizer state and exported weights.bin; the final model's
      // weights.bin is the last checkpoint's, stored once. Epoch 1's
      // checkpoint was collected, and nothing is left staged.
      assert.equal(keys.length, 7, keys.join(", "));
      assert.ok(keys.every((k) => /^e2e\/[0-9a-f]{64}$/.test(k)), keys.join());
    } else {
      const blobs = [...Deno.readDirSync(`${dataDir}/blobs`)]
        .filter((e) => e.isDirectory && e.name !== "tmp");
      assert.equal(blobs.length > 0, true, "blobs under DATA_DIR/blobs");
    }
  } finally {
    const status = await service.stop("SIGTERM");
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    assert.equal(
      status.code,
      0,
      `clean shutdown; output:\n${service.output()}`,
    );
  }
}

Deno.test({
  name:
    "deno task start on embedded PGlite, blobs in S3, trains a 3-epoch FNGD job over HTTP and SSE",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const s3 = await startLocalS3("fngd-e2e");
    try {
      await runScenario("", s3);
    } finally {
      await s3.close();
    }
  },
});

Deno.test({
  name: "deno task start on the DATABASE_URL Postgres trains the same job",
  ignore: !Deno.env.get("DATABASE_URL"),
  sanitizeResources: false,
  async fn() {
    const t = await createTestDb();
    try {
      await runScenario(t.url);
    } finally {
      await t.close();
    }
  },
});
