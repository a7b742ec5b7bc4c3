/** GET /v1/jobs/{id}/coefficients: the per-layer summary with its refresh history, and one vector. */
import assert from "node:assert/strict";
import { claimNextJob, putCoefficients } from "../db/mod.ts";
import { postJob, startApi, syntheticJob } from "./_api.ts";
import { leaseOf } from "./_db.ts";

Deno.test("GET /v1/jobs/{id}/coefficients reports the history and serves each epoch's vector", async (t) => {
  const api = await startApi();
  try {
    const job = await (await postJob(api, syntheticJob())).json();
    const path = `/v1/jobs/${job.id}/coefficients`;

    await t.step("an empty summary before any solve", async () => {
      const res = await api.call(path);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), {
        kind: "summary",
        layers: [],
        history: [],
      });
    });

    const claimed = await claimNextJob(api.tdb.db, "w", 30);
    assert.equal(claimed?.id, job.id);
    const row = (batch: number, layer: number, epoch: number, v: number) => ({
      batch,
      layer,
      epoch,
      coefficients: Float32Array.from([v, v]),
      diagonal: Float32Array.from([1]),
      lambda: 1,
    });
    // Epoch one solves 4 batches x 2 layers; epoch 2 refreshes (0, 1), and
    // epoch 4 refreshes (0, 1) again and (3, 0).
    assert.ok(
      await putCoefficients(api.tdb.db, leaseOf(claimed!), [
        ...[0, 1, 2, 3].flatMap((b) => [0, 1].map((l) => row(b, l, 1, b))),
        row(0, 1, 2, 20),
        row(0, 1, 4, 40),
        row(3, 0, 4, 41),
      ]),
    );

    await t.step(
      "the summary counts the entries solved per epoch",
      async () => {
        const res = await api.call(path);
        assert.equal(res.status, 200);
        const body = await res.json();
        assert.equal(body.kind, "summary");
        assert.deepEqual(body.history, [
          {
            epoch: 1,
            solved: 8,
            layers: [{ layer: 0, solved: 4 }, { layer: 1, solved: 4 }],
          },
          { epoch: 2, solved: 1, layers: [{ layer: 1, solved: 1 }] },
          {
            epoch: 4,
            solved: 2,
            layers: [{ layer: 0, solved: 1 }, { layer: 1, solved: 1 }],
          },
        ]);
        assert.deepEqual(
          body.layers.map((l: { layer: number; batches: number }) => [
            l.layer,
            l.batches,
          ]),
          [[0, 4], [1, 4]],
          "one latest entry per batch",
        );
        assert.equal(body.layers[1].max, 40, "layer 1, batch 0: epoch 4's");
      },
    );

    await t.step("a vector is the latest unless epoch says which", async () => {
      const latest = await api.call(`${path}?batch=0&layer=1`);
      assert.equal(latest.status, 200);
      assert.deepEqual(await latest.json(), {
        kind: "vector",
        batch: 0,
        layer: 1,
        epoch: 4,
        coefficients: [40, 40],
      });
      const second = await (await api.call(`${path}?batch=0&layer=1&epoch=2`))
        .json();
      assert.deepEqual(second, {
        kind: "vector",
        batch: 0,
        layer: 1,
        epoch: 2,
        coefficients: [20, 20],
      });
      const untouched = await (await api.call(`${path}?batch=2&layer=0`))
        .json();
      assert.equal(untouched.epoch, 1);
    });

    await t.step("an epoch that solved nothing there is 404", async () => {
      const res = await api.call(`${path}?batch=0&layer=1&epoch=3`);
      assert.equal(res.status, 404);
      assert.equal((await res.json()).code, "coefficients_not_found");
    });

    await t.step(
      "epoch without batch and layer, or epoch 0, is 400",
      async () => {
        for (const query of ["epoch=2", "batch=0&layer=1&epoch=0"]) {
          const res = await api.call(`${path}?${query}`);
          assert.equal(res.status, 400, query);
          assert.match(
            res.headers.get("content-type")!,
            /^application\/problem\+json/,
          );
        }
      },
    );
  } finally {
    await api.close();
  }
});
