/**
 * Epoch checkpoints over real HTTP with a real worker: the newest
 * CHECKPOINTS_KEPT are listed and each one's model downloads portably
 * (side by side, over HTTP, as a .tar.gz) with the checkpoint's weights;
 * pruned ones are 404 and their blobs collected.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { join } from "node:path";
import { getCheckpoint, readBlob } from "../db/mod.ts";
import { decodeCheckpoint } from "../src/engine/mod.ts";
import { createFngdClient } from "../sdk/mod.ts";
import { KEY_A, KEY_B, postJob, startApi, syntheticJob } from "./_api.ts";
import { waitFor } from "./_process.ts";
import { startWorker } from "./_worker.ts";

/** Loads `dir/model.json` from disk through TF.js's HTTP loader (Deno's fetch reads file:). */
function loadFromDir(dir: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(
    tf.io.http(`file://${dir}/model.json`, { fetchFunc: fetch }),
  );
}

/** The content-addressed files under a file blob store's root. */
async function storedBlobs(root: string): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const d of Deno.readDir(root)) {
    if (!d.isDirectory) continue;
    for await (const f of Deno.readDir(join(root, d.name))) {
      if (/^[0-9a-f]{64}$/.test(f.name)) out.add(f.name);
    }
  }
  return out;
}

const X = [[0.5, -1, 0.25, 2, -0.3, 0.1, 1.5, -2], [1, 2, 3, 4, 5, 6, 7, 8]];

async function predict(model: tf.LayersModel): Promise<number[][]> {
  const x = tf.tensor2d(X);
  try {
    return await (model.predict(x) as tf.Tensor).array() as number[][];
  } finally {
    x.dispose();
  }
}

Deno.test("kept epoch checkpoints list and download as loadable models", async (t) => {
  // The engine's import registers wasm first; these loads need no more than cpu.
  await tf.setBackend("cpu");
  const api = await startApi();
  const worker = startWorker(api.tdb, { CHECKPOINTS_KEPT: "2" });
  const dir = await Deno.makeTempDir();
  try {
    const job = await (await postJob(api, syntheticJob({ epochs: 4 }))).json();
    await waitFor(
      async () => {
        const j = await (await api.call(`/v1/jobs/${job.id}`)).json();
        assert.ok(j.status !== "failed", JSON.stringify(j.error));
        return j.status === "succeeded" ? j : undefined;
      },
      120_000,
      `job ${job.id} to succeed`,
    );

    await t.step(
      "the list holds exactly the 2 newest, newest first",
      async () => {
        const res = await api.call(`/v1/jobs/${job.id}/checkpoints`);
        assert.equal(res.status, 200);
        const { data } = await res.json();
        assert.deepEqual(data.map((c: { epoch: number }) => c.epoch), [4, 3]);
        for (const c of data) {
          assert.ok(c.step > 0);
          assert.ok(c.size > 0);
          assert.match(c.sha256, /^[0-9a-f]{64}$/);
          assert.ok(!Number.isNaN(Date.parse(c.created_at)));
          assert.equal(typeof c.metrics.train_loss, "number");
        }
        assert.ok(data[0].step > data[1].step);
      },
    );

    for (const epoch of [4, 3]) {
      await t.step(
        `epoch ${epoch}: model.json + weights.bin load side by side with the checkpoint's weights`,
        async () => {
          const base = `/v1/jobs/${job.id}/checkpoints/${epoch}`;
          const jsonRes = await api.call(`${base}/model.json`);
          assert.equal(jsonRes.status, 200);
          const json = await jsonRes.json();
          assert.deepEqual(json.weightsManifest[0].paths, ["weights.bin"]);
          const binRes = await api.call(`${base}/weights.bin`);
          assert.equal(binRes.status, 200);
          const bin = new Uint8Array(await binRes.arrayBuffer());
          const listed =
            (await (await api.call(`/v1/jobs/${job.id}/checkpoints`))
              .json()).data.find((c: { epoch: number }) => c.epoch === epoch);
          assert.equal(bin.length, listed.size);
          const digest = new Uint8Array(
            await crypto.subtle.digest("SHA-256", bin),
          );
          assert.equal(
            [...digest].map((b) => b.toString(16).padStart(2, "0")).join(""),
            listed.sha256,
          );
          const side = join(dir, `side-${epoch}`);
          await Deno.mkdir(side);
          await Deno.writeTextFile(`${side}/model.json`, JSON.stringify(json));
          await Deno.writeFile(`${side}/weights.bin`, bin);
          const loaded = await loadFromDir(side);

          // The engine's own checkpoint of that epoch, decoded here: every
          // TF.js weight is one of its arrays, value for value.
          const row = await getCheckpoint(api.tdb.db, job.id, epoch);
          const cp = decodeCheckpoint(
            await readBlob(api.tdb.blobs, row!.weightsSha256!),
            await readBlob(api.tdb.blobs, row!.optimizerSha256!),
          );
          assert.equal(cp.epoch, epoch);
          const engine = Object.values(cp.weights).map((a) => [...a.data]);
          const exported = await Promise.all(
            loaded.getWeights().map(async (w) => [...await w.data()]),
          );
          assert.equal(exported.length, engine.length);
          for (const w of exported) {
            assert.ok(
              engine.some((a) =>
                a.length === w.length && a.every((v, i) => v === w[i])
              ),
              "an exported weight matches none of the checkpoint's arrays",
            );
          }

          // Over HTTP from the API, and from the unpacked archive: the same predictions.
          const expected = await predict(loaded);
          const remote = await tf.loadLayersModel(
            `${api.base}${base}/model.json`,
            {
              requestInit: { headers: { authorization: `Bearer ${KEY_A}` } },
            },
          );
          assert.deepEqual(await predict(remote), expected);
          const tarRes = await api.call(`${base}/model.tar.gz`);
          assert.equal(tarRes.status, 200);
          assert.equal(tarRes.headers.get("content-type"), "application/gzip");
          const archive = join(dir, `model-${epoch}.tar.gz`);
          await Deno.writeFile(
            archive,
            new Uint8Array(await tarRes.arrayBuffer()),
          );
          const out = join(dir, `unpacked-${epoch}`);
          await Deno.mkdir(out);
          const tar = await new Deno.Command("tar", {
            args: ["-xzf", archive, "-C", out],
          }).output();
          assert.ok(tar.success, new TextDecoder().decode(tar.stderr));
          const unpacked = await loadFromDir(out);
          assert.deepEqual(await predict(unpacked), expected);
          for (const m of [loaded, remote, unpacked]) m.dispose();
        },
      );
    }

    await t.step("epochs 3 and 4 differ", async () => {
      const [a, b] = await Promise.all(
        [3, 4].map(async (e) =>
          new Uint8Array(
            await (await api.call(
              `/v1/jobs/${job.id}/checkpoints/${e}/weights.bin`,
            )).arrayBuffer(),
          )
        ),
      );
      assert.notDeepEqual(a, b);
    });

    await t.step(
      "pruned epochs, unknown jobs and other tenants are 404",
      async () => {
        const paths = [
          `/v1/jobs/${job.id}/checkpoints/1/model.json`,
          `/v1/jobs/${job.id}/checkpoints/2/weights.bin`,
          `/v1/jobs/${job.id}/checkpoints/5/model.tar.gz`,
          `/v1/jobs/00000000-0000-0000-0000-000000000000/checkpoints`,
          `/v1/jobs/00000000-0000-0000-0000-000000000000/checkpoints/4/model.json`,
          `/v1/jobs/nope/checkpoints/4/weights.bin`,
        ];
        for (const path of paths) {
          const res = await api.call(path);
          assert.equal(res.status, 404, path);
          assert.equal(
            res.headers.get("content-type"),
            "application/problem+json",
          );
          await res.body?.cancel();
        }
        for (
          const suffix of [
            "",
            "/4/model.json",
            "/4/weights.bin",
            "/4/model.tar.gz",
          ]
        ) {
          const res = await api.call(
            `/v1/jobs/${job.id}/checkpoints${suffix}`,
            {
              key: KEY_B,
            },
          );
          assert.equal(res.status, 404, suffix);
          assert.equal((await res.json()).code, "job_not_found");
        }
      },
    );

    await t.step("a malformed epoch is a 400 problem", async () => {
      for (const epoch of ["abc", "-1", "0", "1e99", "1.5", "99999999999"]) {
        const res = await api.call(
          `/v1/jobs/${job.id}/checkpoints/${epoch}/model.json`,
        );
        assert.equal(res.status, 400, epoch);
        assert.equal((await res.json()).code, "validation_failed");
      }
    });

    await t.step(
      "pruned checkpoints' blobs are collected, kept ones stay",
      async () => {
        const rows = await api.tdb.db.sql.unsafe(`
        select unnest(array[weights_sha256, optimizer_sha256,
          model_weights_sha256]) as sha from checkpoints
        union select weights_sha256 from job_models`);
        const referenced = new Set(rows.map((r) => r.sha as string));
        assert.equal(referenced.size >= 6, true);
        assert.deepEqual(
          await storedBlobs(join(api.tdb.dataDir, "blobs")),
          referenced,
        );
        const counted = await api.tdb.db.sql.unsafe(
          `select sha256 from blobs`,
        );
        assert.deepEqual(
          new Set(counted.map((r) => r.sha256 as string)),
          referenced,
        );
      },
    );

    await t.step(
      "the SDK lists checkpoints and downloads one's model",
      async () => {
        const client = createFngdClient({ baseUrl: api.base, apiKey: KEY_A });
        const list = await client.jobs.checkpoints(job.id);
        assert.deepEqual(list.map((c) => c.epoch), [4, 3]);
        const out = join(dir, "sdk");
        await client.models.download(job.id, out, { epoch: 3 });
        const model = await loadFromDir(out);
        const side = await loadFromDir(join(dir, "side-3"));
        assert.deepEqual(await predict(model), await predict(side));
        model.dispose();
        side.dispose();
      },
    );
  } finally {
    await worker.stop();
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
});
