/** `deno task train` as a user runs it: a real subprocess, parsed output. */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../src/engine/mod.ts";

const CLI = new URL("../src/cli/train.ts", import.meta.url).pathname;

async function runCli(args: string[], cwd?: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", "--allow-write", CLI, ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

const CONFIG = {
  model: {
    input_shape: [8, 8, 1],
    layers: [
      { type: "conv2d", filters: 4, kernel_size: 3, activation: "relu" },
      { type: "max_pool2d", pool_size: 2 },
      { type: "flatten" },
      { type: "dense", units: 16, activation: "relu" },
      { type: "dense", units: 3 },
    ],
  },
  dataset: {
    name: "synthetic",
    samples: 300,
    shape: [8, 8, 1],
    classes: 3,
    seed: 5,
  },
  optimizer: { name: "fngd", lr: 0.05 },
  epochs: 3,
  batch_size: 32,
  seed: 1,
};

Deno.test("train CLI prints API-shaped events and ends with the result", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = join(dir, "job.json");
    await Deno.writeTextFile(config, JSON.stringify(CONFIG));
    const modelDir = join(dir, "model");
    const { code, stdout, stderr } = await runCli([
      "--config",
      config,
      "--save-model",
      modelDir,
    ]);
    assert.equal(code, 0, stderr);
    const events = stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1));
    for (const e of events) {
      assert.deepEqual(Object.keys(e).sort(), [
        "created_at",
        "data",
        "seq",
        "type",
      ]);
      assert.ok(!Number.isNaN(Date.parse(e.created_at)));
    }
    const epochs = events.filter((e) => e.type === "epoch").map((e) => e.data);
    assert.deepEqual(epochs.map((e) => e.phase), [
      "inversion",
      "inverse_free",
      "inverse_free",
    ]);
    assert.deepEqual(Object.keys(epochs[0]).sort(), [
      "epoch",
      "lr",
      "phase",
      "seconds",
      "steps",
      "train_loss",
      "val_accuracy",
      "val_loss",
    ]);
    const step = events.find((e) => e.type === "step").data;
    assert.deepEqual(Object.keys(step).sort(), [
      "epoch",
      "loss",
      "lr",
      "phase",
      "step",
      "steps",
    ]);
    const coefficients = events.filter((e) => e.type === "coefficients");
    assert.equal(coefficients.length, 1);
    assert.equal(coefficients[0].data.layers.length, 3);
    const result = events.at(-1);
    assert.equal(result.type, "result");
    const batches = Math.ceil(270 / 32); // 300 samples, 10% validation
    // Epochs 2 and 3 probe 2 batches x 3 layers each (staleness_samples 2).
    assert.deepEqual(result.data.counters, {
      steps: 3 * batches,
      gram_computations: 3 * batches,
      solves: 3 * batches,
      jitter_retries: 0,
      refreshes: 0,
      staleness_probes: 2 * 2 * 3,
    });
    const staleness = events.filter((e) => e.type === "staleness");
    assert.deepEqual(staleness.map((e) => e.data.epoch), [2, 3]);
    assert.ok(result.data.seconds_by_phase.inversion > 0);
    assert.ok(result.data.seconds_by_phase.inverse_free > 0);
    // The saved model loads with the stock TF.js loader.
    await initBackend("wasm");
    const json = JSON.parse(
      await Deno.readTextFile(join(modelDir, "model.json")),
    );
    const weights = await Deno.readFile(join(modelDir, "weights.bin"));
    const model = await tf.loadLayersModel(tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest[0].weights,
      weightData: weights.slice().buffer,
    }));
    const p = model.predict(tf.zeros([2, 8, 8, 1])) as tf.Tensor;
    assert.deepEqual(p.shape, [2, 3]);
    p.dispose();
    model.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train CLI rejects bad input with readable messages and non-zero exits", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await t.step("invalid config names the fields", async () => {
      const config = join(dir, "bad.json");
      await Deno.writeTextFile(
        config,
        JSON.stringify({
          ...CONFIG,
          batch_size: 0,
          optimizer: { name: "fngd", damping: -1 },
        }),
      );
      const r = await runCli(["--config", config]);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /batch_size: batch_size must be between 1 and 4096, got 0/,
      );
      assert.match(r.stderr, /optimizer\.damping/);
      assert.equal(r.stdout, "");
    });
    await t.step("not JSON", async () => {
      const config = join(dir, "broken.json");
      await Deno.writeTextFile(config, "{ nope");
      const r = await runCli(["--config", config]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /is not valid JSON/);
    });
    await t.step("missing data lists where it looked", async () => {
      const config = join(dir, "csv.json");
      await Deno.writeTextFile(
        config,
        JSON.stringify({
          ...CONFIG,
          dataset: { format: "csv", path: "missing.csv" },
        }),
      );
      const r = await runCli(["--config", config]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /missing\.csv/);
    });
    await t.step(
      "unknown backend and missing --config are usage errors",
      async () => {
        const r1 = await runCli(["--config", "x.json", "--backend", "gpu"]);
        assert.equal(r1.code, 2);
        assert.match(
          r1.stderr,
          /--backend must be one of wasm, cpu, tensorflow, webgpu, got gpu/,
        );
        const r2 = await runCli([]);
        assert.equal(r2.code, 2);
        assert.match(r2.stderr, /--config is required/);
        const r3 = await runCli(["--config", "x.json", "--threads", "0"]);
        assert.equal(r3.code, 2);
        assert.match(r3.stderr, /--threads must be an integer from 1 to 64/);
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train CLI --threads 2 trains data-parallel to the same counters", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = join(dir, "job.json");
    await Deno.writeTextFile(config, JSON.stringify(CONFIG));
    const results = [];
    for (const threads of ["1", "2"]) {
      const { code, stdout, stderr } = await runCli([
        "--config",
        config,
        "--threads",
        threads,
      ]);
      assert.equal(code, 0, stderr);
      const events = stdout.trim().split("\n").map((l) => JSON.parse(l));
      // No "training on 1 thread" notice: this run can be split.
      assert.equal(events.filter((e) => e.type === "log").length, 0);
      results.push(events.at(-1).data);
    }
    assert.deepEqual(results[1].counters, results[0].counters);
    const [a, b] = results.map((r) => r.final.train_loss);
    assert.ok(Math.abs(a - b) < 1e-3 * a, `${a} vs ${b}`);
    // The flag reaches the engine: a run it cannot split says so.
    await Deno.writeTextFile(
      config,
      JSON.stringify({
        ...CONFIG,
        epochs: 1,
        optimizer: { name: "kfac", lr: 0.01 },
      }),
    );
    const kfac = await runCli(["--config", config, "--threads", "2"]);
    assert.equal(kfac.code, 0, kfac.stderr);
    const logs = kfac.stdout.trim().split("\n").map((l) => JSON.parse(l))
      .filter((e) => e.type === "log");
    assert.equal(logs.length, 1);
    assert.match(logs[0].data.message, /training on 1 thread, not 2: kfac/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
