/**
 * The example configs on real Fashion-MNIST: each is admitted by the API as
 * it stands, and, shrunk to a few hundred samples and one epoch (the model
 * exactly as in the file), trains with the engine and through the API with a
 * real worker; both exports reload with `tf.loadLayersModel` and reproduce
 * the reported test and validation metrics exactly. Skipped, saying why,
 * where Fashion-MNIST is not installed (CI installs it).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { isTerminalStatus } from "../db/mod.ts";
import {
  type Dataset,
  initBackend,
  JobSpec,
  type ModelArtifacts,
  train,
} from "../src/engine/mod.ts";
import {
  type IdxArray,
  idxToDataset,
  parseIdx,
} from "../src/engine/data/mod.ts";
import { type HostSplit, splitData } from "../src/engine/batches.ts";
import { EVAL_CHUNK_ROWS } from "../src/engine/cost.ts";
import { perSampleLoss } from "../src/engine/loss.ts";
import { namedDatasetDirs } from "../workers/resolve_dataset.ts";
import { KEY_A, postJob, startApi } from "./_api.ts";
import { spawnDeno, waitFor } from "./_process.ts";

/** The examples under test: each one's test metric and its shrunk size. */
const EXAMPLES = [
  {
    file: "resnet_fashion_mnist.json",
    metric: "test_accuracy",
    limit: 160,
  },
  {
    file: "autoencoder_fashion_mnist.json",
    metric: "test_reconstruction_error",
    limit: 256,
  },
] as const;

/**
 * Test samples kept from the official 10000: at most one evaluation chunk
 * (EVAL_CHUNK_ROWS), so that the engine sums each metric in one reduction,
 * the same one {@link splitMetrics} makes.
 */
const TEST_SAMPLES = 256;

const IDX_FILES = [
  "train-images-idx3-ubyte",
  "train-labels-idx1-ubyte",
  "t10k-images-idx3-ubyte",
  "t10k-labels-idx1-ubyte",
] as const;

/** Paths of the four IDX files (gzipped or not) in `dir`, or undefined. */
function idxPaths(dir: string): string[] | undefined {
  const paths = IDX_FILES.map((stem) =>
    [`${stem}.gz`, stem].map((f) => join(dir, f)).find((p) => {
      try {
        return Deno.statSync(p).isFile;
      } catch {
        return false;
      }
    })
  );
  return paths.every((p) => p !== undefined) ? paths as string[] : undefined;
}

/** Where the engine would find Fashion-MNIST with its test split, if anywhere. */
const FASHION = namedDatasetDirs("fashion-mnist").map(idxPaths).find((p) =>
  p !== undefined
);
if (!FASHION) {
  console.warn(
    `examples_test.ts: skipping the example trainings: Fashion-MNIST (with its t10k test split) is not in ${
      namedDatasetDirs("fashion-mnist").join(", ")
    }; install it with \`apt-get install dataset-fashion-mnist\` or set FNGD_DATA_DIR`,
  );
}

/** The four IDX files, the test split cut to {@link TEST_SAMPLES}; parsed once. */
let parsed: Promise<IdxArray[]> | undefined;
function fashionIdx(): Promise<IdxArray[]> {
  return parsed ??= Promise.all(
    FASHION!.map(async (p) => parseIdx(await Deno.readFile(p))),
  ).then(([images, labels, testImages, testLabels]) => [
    images,
    labels,
    cut(testImages, TEST_SAMPLES),
    cut(testLabels, TEST_SAMPLES),
  ]);
}

/** The first `n` samples of an IDX array. */
function cut(a: IdxArray, n: number): IdxArray {
  const per = a.data.length / a.dims[0];
  return { dims: [n, ...a.dims.slice(1)], data: a.data.subarray(0, n * per) };
}

/** An uncompressed IDX file of unsigned bytes. */
function idxFile(a: IdxArray): Uint8Array {
  const header = 4 + 4 * a.dims.length;
  const out = new Uint8Array(header + a.data.length);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = a.dims.length;
  a.dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(a.data as Uint8Array, header);
  return out;
}

/** An example config as the file has it. */
function readExample(file: string): Record<string, unknown> {
  return JSON.parse(
    Deno.readTextFileSync(new URL(`../examples/${file}`, import.meta.url)),
  );
}

/**
 * The example for a quick run: `limit` training samples, one epoch, a
 * cosine schedule without warmup (warmup must end before the last epoch);
 * the model, loss, target, optimizer and batch size as in the file.
 */
function shrunk(file: string, limit: number): Record<string, unknown> {
  const spec = readExample(file);
  const schedule = spec.schedule as { name: string } | undefined;
  return {
    ...spec,
    dataset: { ...spec.dataset as object, limit },
    epochs: 1,
    ...(schedule?.name === "cosine"
      ? { schedule: { ...schedule, warmup_epochs: 0 } }
      : {}),
  };
}

/** What a loaded model gives on one split, summed as evaluate.ts sums it. */
function splitMetrics(
  model: tf.LayersModel,
  split: HostSplit,
  loss: JobSpec["loss"],
): { loss?: number; accuracy?: number; reconstruction_error?: number } {
  // One reduction over the whole split, as the engine's when the split fits
  // one evaluation chunk.
  assert.ok(split.count <= EVAL_CHUNK_ROWS);
  const n = split.count;
  return tf.tidy(() => {
    const { x, y } = split.rows(0, n);
    const out = model.predict(x) as tf.Tensor2D;
    const sum = (t: tf.Tensor) => tf.sum(t).dataSync()[0] / n;
    // A classifier's export outputs logits; an autoencoder's, the reconstruction.
    return split.labelled
      ? {
        loss: sum(perSampleLoss(loss, out, y)),
        accuracy: sum(
          tf.cast(tf.equal(tf.argMax(out, 1), tf.argMax(y, 1)), "float32"),
        ),
      }
      : { reconstruction_error: sum(tf.squaredDifference(out, y)) };
  });
}

/**
 * Checks that a loaded model reproduces the run's reported final metrics
 * exactly: the test accuracy and the validation loss and accuracy (from the
 * logits) of a classifier; the test and validation reconstruction errors of
 * an autoencoder. `data` is what the run trained on.
 */
function assertReproduces(
  model: tf.LayersModel,
  spec: JobSpec,
  data: Dataset,
  final: object,
): void {
  const last = spec.model.layers.at(-1) as { units: number };
  const split = splitData(data, spec, spec.model.input_shape, last.units);
  const val = splitMetrics(model, split.val!, spec.loss);
  const test = splitMetrics(model, split.test!, spec.loss);
  const got = spec.target === "input"
    ? {
      val_reconstruction_error: val.reconstruction_error,
      test_reconstruction_error: test.reconstruction_error,
    }
    : {
      val_loss: val.loss,
      val_accuracy: val.accuracy,
      test_accuracy: test.accuracy,
    };
  const want = Object.fromEntries(
    Object.keys(got).map((k) => [k, (final as Record<string, unknown>)[k]]),
  );
  assert.deepEqual(got, want);
}

function reload(artifacts: ModelArtifacts): Promise<tf.LayersModel> {
  const manifest = artifacts.modelJson.weightsManifest as {
    weights: tf.io.WeightsManifestEntry[];
  }[];
  return tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: artifacts.modelJson
      .modelTopology as tf.io.ModelJSON["modelTopology"],
    weightSpecs: manifest[0].weights,
    weightData: artifacts.weightData.slice().buffer,
  }));
}

for (const { file, metric, limit } of EXAMPLES) {
  Deno.test({
    name:
      `examples/${file}, shrunk, trains with the engine, and its export reproduces ${metric} and the validation metrics exactly`,
    ignore: !FASHION,
    async fn() {
      await initBackend("wasm");
      const spec = JobSpec.parse(shrunk(file, limit));
      assert.deepEqual(spec.model, JobSpec.parse(readExample(file)).model);
      const [images, labels, testImages, testLabels] = await fashionIdx();
      const data = idxToDataset(images, labels, testImages, testLabels, {
        limit,
      });
      let artifacts: ModelArtifacts | undefined;
      const result = await train(spec, data, {
        saveModel: (a) => Promise.resolve(void (artifacts = a)),
      });
      assert.ok(
        typeof result.final[metric] === "number",
        JSON.stringify(result.final),
      );
      const model = await reload(artifacts!);
      try {
        if (spec.target === "labels") {
          // Residual blocks export as a functional model with Add layers.
          assert.ok(model.layers.some((l) => l.getClassName() === "Add"));
        }
        assertReproduces(model, spec, data, result.final);
      } finally {
        model.dispose();
      }
    },
  });
}

Deno.test("each example is admitted by POST /v1/jobs as it stands, with the default MAX_JOB_BYTES", async () => {
  const api = await startApi();
  try {
    assert.equal(api.options.maxJobBytes, 3 * 1024 ** 3);
    for (const { file } of EXAMPLES) {
      const res = await postJob(api, readExample(file));
      const body = await res.text();
      assert.equal(res.status, 201, `${file}: ${body}`);
    }
  } finally {
    await api.close();
  }
});

Deno.test({
  name:
    "a worker trains each example (shrunk) through the API, and GET /v1/jobs/{id}/model reloads and reproduces its reported metrics",
  ignore: !FASHION,
  async fn() {
    await initBackend("wasm");
    // The worker reads Fashion-MNIST from here: the training samples the
    // largest limit needs, and the cut test split, so that evaluation is quick.
    const dataDir = await Deno.makeTempDir({ prefix: "fngd_examples_" });
    const api = await startApi();
    let worker: ReturnType<typeof spawnDeno> | undefined;
    try {
      const [images, labels, testImages, testLabels] = await fashionIdx();
      const rows = Math.max(...EXAMPLES.map((e) => e.limit));
      const files = [
        cut(images, rows),
        cut(labels, rows),
        testImages,
        testLabels,
      ];
      await Promise.all(
        files.map((a, i) =>
          Deno.writeFile(join(dataDir, IDX_FILES[i]), idxFile(a))
        ),
      );
      worker = spawnDeno(["run", "-A", "src/worker_main.ts"], {
        DATABASE_URL: api.tdb.url,
        DATA_DIR: api.tdb.dataDir,
        FNGD_DATA_DIR: dataDir,
        FNGD_BACKEND: "wasm",
      });
      const jobs = [];
      for (const { file, metric, limit } of EXAMPLES) {
        const body = shrunk(file, limit);
        const res = await postJob(api, body);
        const created = await res.json();
        assert.equal(res.status, 201, `${file}: ${JSON.stringify(created)}`);
        jobs.push({ id: created.id as string, metric, limit, body });
      }
      for (const { id, metric, limit, body } of jobs) {
        const job = await waitFor(
          async () => {
            const j = await (await api.call(`/v1/jobs/${id}`)).json();
            return isTerminalStatus(j.status) ? j : undefined;
          },
          120_000,
          `job ${id} to finish`,
          200,
        );
        assert.equal(job.status, "succeeded", worker.output());
        const final = job.result.final;
        assert.ok(typeof final[metric] === "number", JSON.stringify(final));
        const model = await tf.loadLayersModel(
          `${api.base}/v1/jobs/${id}/model`,
          { requestInit: { headers: { authorization: `Bearer ${KEY_A}` } } },
        );
        try {
          // The data the worker trained on, as it loaded it.
          const data = idxToDataset(images, labels, testImages, testLabels, {
            limit,
          });
          assertReproduces(model, JobSpec.parse(body), data, final);
        } finally {
          model.dispose();
        }
      }
    } finally {
      await worker?.stop("SIGTERM");
      await api.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
