/** The trained model is served so that tf.loadLayersModel can load it over HTTP. */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { claimNextJob, saveJobModel } from "../db/mod.ts";
import { KEY_A, KEY_B, postJob, startApi, syntheticJob } from "./_api.ts";
import { leaseOf } from "./_db.ts";
import { savedModel } from "./_saved_model.ts";

Deno.test("GET /v1/jobs/{id}/model loads with tf.loadLayersModel", async (t) => {
  const api = await startApi();
  try {
    const job = await (await postJob(api, syntheticJob())).json();
    const url = `${api.base}/v1/jobs/${job.id}/model`;

    await t.step("404 until a model is saved", async () => {
      const res = await api.call(`/v1/jobs/${job.id}/model`);
      assert.equal(res.status, 404);
      assert.equal((await res.json()).code, "model_not_found");
    });

    const { model, modelJson, weightData } = await savedModel();
    const claimed = await claimNextJob(api.tdb.db, "w", 30);
    assert.equal(claimed?.id, job.id);
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
      "the loaded model predicts what the saved one did",
      async () => {
        const loaded = await tf.loadLayersModel(url, {
          requestInit: { headers: { authorization: `Bearer ${KEY_A}` } },
        });
        const x = tf.tensor2d([[0.1, -0.2, 0.3, 0.4], [1, 2, 3, 4]]);
        const want = await (model.predict(x) as tf.Tensor).array();
        const got = await (loaded.predict(x) as tf.Tensor).array();
        assert.deepEqual(got, want);
        x.dispose();
        model.dispose();
        loaded.dispose();
      },
    );

    await t.step(
      "weights are binary, and another tenant gets 404",
      async () => {
        const res = await api.call(`/v1/jobs/${job.id}/model/weights.bin`);
        assert.equal(
          res.headers.get("content-type"),
          "application/octet-stream",
        );
        assert.deepEqual(new Uint8Array(await res.arrayBuffer()), weightData);
        for (const path of ["model", "model/weights.bin"]) {
          const foreign = await api.call(`/v1/jobs/${job.id}/${path}`, {
            key: KEY_B,
          });
          assert.equal(foreign.status, 404);
          assert.equal((await foreign.json()).code, "job_not_found");
        }
      },
    );
  } finally {
    await api.close();
  }
});
