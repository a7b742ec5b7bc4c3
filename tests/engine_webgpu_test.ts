/**
 * The webgpu backend against wasm: 3 steps of sgd, ngd, fngd and K-FAC on a
 * small dense and a small conv net, from the same seed and data, must give
 * the same losses and weight updates. Runs on any adapter, Mesa's software
 * one (llvmpipe) included; skipped where there is none.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  type BackendName,
  type Checkpoint,
  initBackend,
  type JobSpec,
} from "../src/engine/mod.ts";
import { missingWebgpu } from "../src/engine/backend.ts";
import { SequentialModel } from "../src/engine/model.ts";
import { deriveSeed, SEED_STREAM } from "../src/engine/rng.ts";
import { relativeError, specFor, TEST_LR, trainRecording } from "./_engine.ts";

const missing = await missingWebgpu();
if (missing) console.log(`engine_webgpu_test skipped: ${missing}`);

// Both backends compute in float32 but sum in different orders (tiled GPU
// kernels vs XNNPACK): ~1e-7 relative per op, which the solves amplify by
// their conditioning over 3 steps. Measured on llvmpipe: at most 1.2e-6 on
// the updates, 1.1e-7 on the losses. A wrong kernel is off by O(1).
const TOLERANCE = 1e-3;

/** All weights in name order, flattened. */
function flatWeights(weights: Record<string, { data: Float32Array }>) {
  return Float64Array.from(
    Object.keys(weights).sort().flatMap((k) => Array.from(weights[k].data)),
  );
}

/** The model's initial weights, as the trainer seeds them. */
function initialWeights(spec: JobSpec): Float64Array {
  const model = new SequentialModel(
    spec.model,
    deriveSeed(spec.seed, SEED_STREAM.init),
  );
  try {
    const vars = [...model.variables()].sort(([a], [b]) => a < b ? -1 : 1);
    return Float64Array.from(vars.flatMap(([, v]) => Array.from(v.dataSync())));
  } finally {
    model.dispose();
  }
}

async function run(backend: BackendName, spec: JobSpec) {
  await initBackend(backend);
  const before = tf.memory().numTensors;
  let last: Checkpoint | undefined;
  const { steps } = await trainRecording(spec, {
    onCheckpoint: (cp) => Promise.resolve(void (last = cp)),
  });
  assert.equal(tf.memory().numTensors, before, `${backend} leaked tensors`);
  return {
    losses: steps.map((s) => s.loss),
    weights: flatWeights(last!.weights),
  };
}

Deno.test({
  name:
    "webgpu matches wasm: 3 steps of sgd, ngd, fngd, kfac on a dense and a conv net",
  ignore: missing !== undefined,
  async fn(t) {
    for (const kind of ["dense", "conv"] as const) {
      for (const name of ["sgd", "ngd", "fngd", "kfac"] as const) {
        await t.step(`${kind} ${name}`, async () => {
          // 72 training rows in batches of 24: one epoch is 3 steps.
          const spec = specFor(kind, { name, lr: TEST_LR[name] }, {
            epochs: 1,
            batch_size: 24,
          });
          const wasm = await run("wasm", spec);
          const gpu = await run("webgpu", spec);
          assert.equal(gpu.losses.length, 3);
          const lossError = relativeError(gpu.losses, wasm.losses);
          assert.ok(lossError < TOLERANCE, `losses off by ${lossError}`);
          // Against the update, not the weights: the shared initial weights
          // would hide an error in the steps themselves.
          await initBackend("wasm");
          const w0 = initialWeights(spec);
          const weightError = relativeError(
            gpu.weights.map((w, i) => w - w0[i]),
            wasm.weights.map((w, i) => w - w0[i]),
          );
          assert.ok(weightError < TOLERANCE, `update off by ${weightError}`);
        });
      }
    }
  },
});
