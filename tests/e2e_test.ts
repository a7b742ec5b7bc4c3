/**
 * The whole service as a user meets it: `deno task start` as a subprocess,
 * a job submitted over HTTP, its SSE stream read to the end, then metrics and
 * coefficients. Once on embedded PGlite (no DATABASE_URL), once on the real
 * Postgres of DATABASE_URL when it is set.
 */
import assert from "node:assert/strict";
import { createTestDb } from "./_db.ts";
import { spawnDeno } from "./_process.ts";

const KEY = "e2e-secret";

/** 3 epochs of FNGD on a small synthetic MLP (2 trainable layers). */
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
};
const TRAINABLE_LAYERS = 2;

interface SseEvent {
  id: string;
  event: string;
  data: { seq: number; type: string; data: Record<string, unknown> };
}

/** Reads SSE frames until the terminal status event (the server then closes). */
async function readEvents(res: Response): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  let buffer = "";
  for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields: Record<string, string> = {};
      for (const line of frame.split("\n")) {
        if (line.startsWith(":")) continue; // heartbeat comment
        const colon = line.indexOf(":");
        fields[line.slice(0, colon)] = line.slice(colon + 1).trimStart();
      }
      if (fields.data === undefined) continue;
      events.push({
        id: fields.id,
        event: fields.event,
        data: JSON.parse(fields.data),
      });
    }
  }
  return events;
}

async function runScenario(databaseUrl: string): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "fngd_e2e_" });
  const service = spawnDeno(["task", "start"], {
    DATABASE_URL: databaseUrl, // "" means unset: embedded PGlite
    DATA_DIR: dataDir,
    HOST: "127.0.0.1",
    PORT: "0",
    WORKERS: "1",
    API_KEYS: `${KEY}:e2e`,
    LEASE_SECONDS: "10",
    FNGD_BACKEND: "wasm",
  });
  try {
    const line = await service.waitForLine(
      (l) => l.startsWith("listening on http://"),
      120_000,
    );
    const base = line.slice("listening on ".length).trim();
    const auth = { authorization: `Bearer ${KEY}` };

    const unauthorized = await fetch(`${base}/v1/jobs`);
    assert.equal(unauthorized.status, 401);
    await unauthorized.body?.cancel();

    const created = await fetch(`${base}/v1/jobs`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify(SPEC),
    });
    assert.equal(created.status, 201, await created.clone().text());
    const job = await created.json() as { id: string };

    const stream = await fetch(`${base}/v1/jobs/${job.id}/events`, {
      headers: { ...auth, accept: "text/event-stream" },
      signal: AbortSignal.timeout(180_000),
    });
    assert.equal(stream.status, 200);
    assert.match(
      stream.headers.get("content-type") ?? "",
      /text\/event-stream/,
    );
    const events = await readEvents(stream);
    const seqs = events.map((e) => Number(e.id));
    assert.deepEqual(seqs, seqs.map((_, i) => i + 1), "gap-free, in order");
    const last = events.at(-1)!;
    assert.equal(last.event, "status");
    assert.equal(last.data.data.status, "succeeded", service.output());

    const epochs = events.filter((e) => e.event === "epoch").map((e) =>
      e.data.data
    );
    assert.deepEqual(epochs.map((e) => e.phase), [
      "inversion",
      "inverse_free",
      "inverse_free",
    ]);
    const batches = epochs[0].steps as number;

    const metrics = await (await fetch(`${base}/v1/jobs/${job.id}/metrics`, {
      headers: auth,
    })).json() as { data: { epoch: number; phase: string }[] };
    assert.deepEqual(metrics.data.map((m) => m.epoch), [1, 2, 3]);

    const coefficients = await (await fetch(
      `${base}/v1/jobs/${job.id}/coefficients`,
      { headers: auth },
    )).json() as { layers: Record<string, number>[] };
    assert.equal(coefficients.layers.length, TRAINABLE_LAYERS);
    const event = events.find((e) => e.event === "coefficients")!.data.data as {
      layers: Record<string, number>[];
    };
    for (const [i, stored] of coefficients.layers.entries()) {
      const live = event.layers[i];
      for (const k of ["layer", "batches", "damping"]) {
        assert.equal(stored[k], live[k], k);
      }
      for (const k of ["mean", "min", "max"]) {
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

    const result = last.data.data.result as {
      counters: { solves: number; gram_computations: number; steps: number };
    };
    assert.equal(result.counters.steps, batches * 3);
    assert.equal(
      result.counters.solves,
      batches * TRAINABLE_LAYERS,
      "every solve happened in epoch 1: none after",
    );

    const final = await (await fetch(`${base}/v1/jobs/${job.id}`, {
      headers: auth,
    })).json() as { status: string; attempts: number };
    assert.equal(final.status, "succeeded");
    assert.equal(final.attempts, 1);
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
    "deno task start on embedded PGlite trains a 3-epoch FNGD job over HTTP and SSE",
  sanitizeResources: false,
  fn: () => runScenario(""),
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
