/**
 * Downloadable artifacts: the model's portable layout (model.json naming
 * weights.bin beside it), its .tar.gz, and the step metrics as CSV.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { appendJobEvent, claimNextJob, saveJobModel } from "../db/mod.ts";
import { KEY_A, KEY_B, postJob, startApi, syntheticJob } from "./_api.ts";
import { leaseOf } from "./_db.ts";
import { savedModel } from "./_saved_model.ts";

/** Loads `dir/model.json` from disk through TF.js's own HTTP loader (Deno's fetch reads file:). */
function loadFromDir(dir: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(
    tf.io.http(`file://${dir}/model.json`, { fetchFunc: fetch }),
  );
}

async function samePredictions(a: tf.LayersModel, b: tf.LayersModel) {
  const x = tf.tensor2d([[0.1, -0.2, 0.3, 0.4], [1, 2, 3, 4]]);
  try {
    assert.deepEqual(
      await (b.predict(x) as tf.Tensor).array(),
      await (a.predict(x) as tf.Tensor).array(),
    );
  } finally {
    x.dispose();
  }
}

Deno.test("the model downloads portably: side by side, as a .tar.gz, and over HTTP", async (t) => {
  const api = await startApi();
  const dir = await Deno.makeTempDir();
  try {
    const job = await (await postJob(api, syntheticJob())).json();
    const { model, modelJson, weightData } = await savedModel();
    const claimed = await claimNextJob(api.tdb.db, "w", 30);
    assert.ok(
      await saveJobModel(
        api.tdb.db,
        api.tdb.blobs,
        leaseOf(claimed!),
        modelJson,
        weightData,
      ),
    );

    await t.step(
      "model.json names weights.bin, and the pair loads from disk",
      async () => {
        for (const path of ["model", "model/model.json"]) {
          const res = await api.call(`/v1/jobs/${job.id}/${path}`);
          assert.equal(res.status, 200);
          const json = await res.json();
          assert.deepEqual(json.weightsManifest[0].paths, ["weights.bin"]);
          await Deno.writeTextFile(`${dir}/model.json`, JSON.stringify(json));
        }
        for (const path of ["model/weights.bin", "weights.bin"]) {
          const res = await api.call(`/v1/jobs/${job.id}/${path}`);
          assert.equal(res.status, 200);
          const bytes = new Uint8Array(await res.arrayBuffer());
          assert.deepEqual(bytes, weightData);
          await Deno.writeFile(`${dir}/weights.bin`, bytes);
        }
        const loaded = await loadFromDir(dir);
        await samePredictions(model, loaded);
        loaded.dispose();
      },
    );

    await t.step("both model URLs load over HTTP", async () => {
      for (const path of ["model", "model/model.json"]) {
        const loaded = await tf.loadLayersModel(
          `${api.base}/v1/jobs/${job.id}/${path}`,
          { requestInit: { headers: { authorization: `Bearer ${KEY_A}` } } },
        );
        await samePredictions(model, loaded);
        loaded.dispose();
      }
    });

    await t.step(
      "model.tar.gz unpacks (with tar) into a loadable pair",
      async () => {
        const res = await api.call(`/v1/jobs/${job.id}/model.tar.gz`);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("content-type"), "application/gzip");
        const archive = `${dir}/model.tar.gz`;
        await Deno.writeFile(archive, new Uint8Array(await res.arrayBuffer()));
        const out = `${dir}/unpacked`;
        await Deno.mkdir(out);
        const tar = await new Deno.Command("tar", {
          args: ["-xzf", archive, "-C", out],
        }).output();
        assert.equal(tar.code, 0, new TextDecoder().decode(tar.stderr));
        const names = [];
        for await (const e of Deno.readDir(out)) names.push(e.name);
        assert.deepEqual(names.sort(), ["model.json", "weights.bin"]);
        assert.deepEqual(await Deno.readFile(`${out}/weights.bin`), weightData);
        const loaded = await loadFromDir(out);
        await samePredictions(model, loaded);
        loaded.dispose();
      },
    );

    await t.step("another tenant and unknown jobs get 404", async () => {
      for (
        const path of [
          "model",
          "model/model.json",
          "model/weights.bin",
          "weights.bin",
          "model.tar.gz",
        ]
      ) {
        const foreign = await api.call(`/v1/jobs/${job.id}/${path}`, {
          key: KEY_B,
        });
        assert.equal(foreign.status, 404);
        assert.equal((await foreign.json()).code, "job_not_found");
        const unknown = await api.call(`/v1/jobs/not-a-job/${path}`);
        assert.equal(unknown.status, 404);
        await unknown.body?.cancel();
      }
    });
    model.dispose();
  } finally {
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("GET /v1/jobs/{id}/metrics.csv: one row per step event, tenant-scoped", async () => {
  const api = await startApi();
  try {
    const job = await (await postJob(api, syntheticJob())).json();
    const empty = await api.call(`/v1/jobs/${job.id}/metrics.csv`);
    assert.equal(empty.status, 200);
    assert.match(empty.headers.get("content-type")!, /^text\/csv/);
    assert.equal(
      await empty.text(),
      "epoch,step,steps,loss,phase,lr,seq,created_at\n",
    );
    // More than one page of steps, and other events in between.
    const steps = 1005;
    for (let i = 1; i <= steps; i++) {
      await appendJobEvent(api.tdb.db, job.id, "step", {
        epoch: 1 + Math.floor(i / 500),
        step: i,
        steps,
        loss: 1 / i,
        phase: i < 500 ? "inversion" : "inverse_free",
        lr: 0.1,
      });
      if (i % 300 === 0) {
        await appendJobEvent(api.tdb.db, job.id, "log", {
          level: "info",
          message: 'a, "quoted" line',
        });
      }
    }
    const res = await api.call(`/v1/jobs/${job.id}/metrics.csv`);
    assert.equal(res.status, 200);
    const lines = (await res.text()).trimEnd().split("\n");
    assert.equal(lines.length, steps + 1);
    const first = lines[1].split(",");
    assert.deepEqual(first.slice(0, 6), [
      "1",
      "1",
      "1005",
      "1",
      "inversion",
      "0.1",
    ]);
    assert.ok(!Number.isNaN(Date.parse(first[7])));
    assert.equal(lines.at(-1)!.split(",")[1], String(steps));
    assert.equal(lines.at(-1)!.split(",")[4], "inverse_free");

    const foreign = await api.call(`/v1/jobs/${job.id}/metrics.csv`, {
      key: KEY_B,
    });
    assert.equal(foreign.status, 404);
    assert.equal((await foreign.json()).code, "job_not_found");
    const unknown = await api.call(
      `/v1/jobs/00000000-0000-4000-8000-000000000000/metrics.csv`,
    );
    assert.equal(unknown.status, 404);
    await unknown.body?.cancel();
  } finally {
    await api.close();
  }
});
