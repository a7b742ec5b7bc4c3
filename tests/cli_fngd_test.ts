/**
 * `deno task fngd` as a user runs it: a real subprocess against a real API,
 * worker and database; and its views (bars, plain lines, tables) on their own.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import type { JobEvent } from "../sdk/mod.ts";
import { initBackend } from "../src/engine/mod.ts";
import { BarsView } from "../src/cli/_bars.ts";
import { ProgressTracker } from "../src/cli/_progress.ts";
import { table } from "../src/cli/_table.ts";
import { PlainView } from "../src/cli/_watch.ts";
import { KEY_A, startApi, syntheticJob } from "./_api.ts";
import { spawnDeno, waitFor } from "./_process.ts";
import { startTcpProxy } from "./_tcp_proxy.ts";
import { startWorker } from "./_worker.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const CLI = "src/cli/fngd.ts";

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to its end; `env` holds FNGD_URL and FNGD_API_KEY (or not). */
async function fngd(args: string[], env: Record<string, string>): Promise<Ran> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    cwd: ROOT,
    // Only what the test says: FNGD_* from the runner's shell must not leak in.
    env: { FNGD_URL: "", FNGD_API_KEY: "", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** `ran` exited with `code`, its output shown when not. */
function exited(ran: Ran, code: number): void {
  assert.equal(
    ran.code,
    code,
    `exit ${ran.code}, not ${code}\nstdout:\n${ran.stdout}\nstderr:\n${ran.stderr}`,
  );
}

/** The id in the CLI's `created job <id>` line. */
function createdId(ran: Ran): string {
  const m = /^created job (\S+) /m.exec(ran.stdout);
  assert.ok(m, ran.stdout + ran.stderr);
  return m[1];
}

function lines(text: string, pattern: RegExp): string[] {
  return text.split("\n").filter((l) => pattern.test(l));
}

Deno.test({
  name:
    "fngd drives a real API and worker: watch (resumed), failure, list, get, cancel, model, upload, errors",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const api = await startApi();
    const dir = await Deno.makeTempDir({ prefix: "fngd_cli_" });
    const proxy = startTcpProxy({
      hostname: "127.0.0.1",
      port: Number(new URL(api.base).port),
    });
    const env = { FNGD_URL: api.base, FNGD_API_KEY: KEY_A };
    const job = (name: string, body: unknown) => {
      const path = join(dir, name);
      Deno.writeTextFileSync(path, JSON.stringify(body));
      return path;
    };
    const tiny = job("tiny.json", syntheticJob({ epochs: 2, seed: 3 }));
    // Deterministic: plain SGD at lr 100 overflows to NaN within a few epochs.
    const diverging = job(
      "diverging.json",
      syntheticJob({
        optimizer: { name: "sgd", lr: 100, momentum: 0.99 },
        epochs: 20,
      }),
    );
    const long = job("long.json", syntheticJob({ epochs: 1000 }));
    let worker: ReturnType<typeof startWorker> | undefined;
    try {
      // Usage and API errors need no worker: they run meanwhile.
      const errors = Promise.all([
        fngd([], env),
        fngd(["jobs", "frobnicate"], env),
        fngd(["jobs", "get"], env),
        fngd(["jobs", "list", "--status", "bogus"], env),
        fngd(["jobs", "get", crypto.randomUUID()], env),
        fngd(["jobs", "list"], { ...env, FNGD_API_KEY: "not-a-key" }),
        fngd([
          "jobs",
          "create",
          job(
            "bad.json",
            syntheticJob({
              optimizer: { name: "fngd", lr: -1 },
            }),
          ),
        ], env),
        fngd(["--help"], env),
      ]);

      let succeeded = "";
      await t.step("watch resumes after a dropped connection", async () => {
        // Queued with no worker yet, so the stream is open when it is cut.
        const id = createdId(await fngd(["jobs", "create", tiny], env));
        const watch = spawnDeno(["run", "-A", CLI, "jobs", "watch", id], {
          FNGD_URL: `http://127.0.0.1:${proxy.port}`,
          FNGD_API_KEY: KEY_A,
        });
        try {
          await watch.waitForLine((l) => l === "status queued", 30_000);
          proxy.cut("refuse");
          await waitFor(
            () =>
              Promise.resolve(
                watch.output().includes("connection lost; reconnecting")
                  ? true
                  : undefined,
              ),
            10_000,
            "the reconnect note",
          );
          proxy.restore();
          worker = startWorker(api.tdb);
          await watch.child.status;
          const status = await watch.stop(); // the exited process: its output read whole
          const out = watch.output();
          assert.equal(status.code, 0, out);
          assert.deepEqual(
            lines(out, /^epoch /).map((l) => l.slice(0, 9)),
            ["epoch 1/2", "epoch 2/2"],
            out,
          );
          assert.equal(lines(out, /^status running/).length, 1, out);
          assert.match(out, new RegExp(`job ${id} succeeded`));
          succeeded = id;
        } finally {
          await watch.stop();
        }
      });

      await t.step(
        "usage errors exit 2, API errors 1 with the problem",
        async () => {
          const [
            none,
            unknown,
            noId,
            badStatus,
            notFound,
            badKey,
            invalid,
            help,
          ] = await errors;
          for (const ran of [none, unknown, noId, badStatus]) {
            exited(ran, 2);
            assert.match(ran.stderr, /^error: .+\n\nusage: fngd/);
          }
          assert.match(unknown.stderr, /unknown command "jobs frobnicate"/);
          assert.match(noId.stderr, /jobs get needs ID/);
          assert.match(badStatus.stderr, /--status must be one of queued/);
          exited(notFound, 1);
          assert.match(
            notFound.stderr,
            /^error: Job not found \(404 job_not_found\): no job [0-9a-f-]+/,
          );
          exited(badKey, 1);
          assert.match(badKey.stderr, /Unauthorized \(401 unauthorized\)/);
          assert.match(badKey.stderr, /FNGD_API_KEY/);
          exited(invalid, 1);
          assert.match(invalid.stderr, /Request validation failed \(400/);
          assert.match(invalid.stderr, /\n {2}optimizer\.lr \(body\): /);
          exited(help, 0);
          assert.match(help.stdout, /jobs create/);
          assert.match(help.stdout, /datasets upload/);
        },
      );

      let failed = "";
      await t.step(
        "create --watch: epoch lines and exit 0; a failed job exits 3",
        async () => {
          const [ok, bad] = await Promise.all([
            fngd(["jobs", "create", tiny, "--watch"], env),
            fngd(["jobs", "create", diverging, "--watch"], env),
          ]);
          exited(ok, 0);
          assert.deepEqual(
            lines(ok.stdout, /^epoch /).map((l) => l.split(/\s+/).slice(0, 3)),
            [["epoch", "1/2", "inversion"], ["epoch", "2/2", "inverse_free"]],
          );
          assert.match(ok.stdout, /val_accuracy \d/);
          // Not a terminal: lasting lines only, no bars and no escape sequences.
          for (const line of ok.stdout.trimEnd().split("\n")) {
            assert.match(line, /^(created job|status|epoch|job) /, line);
          }
          assert.match(ok.stdout, /^job \S+ succeeded {2}trained in /m);
          exited(bad, 3);
          assert.ok(lines(bad.stdout, /^epoch /).length > 0, bad.stdout);
          assert.match(bad.stdout, /^status failed$/m);
          assert.match(
            bad.stderr,
            /^error: job \S+ failed \(diverged\): loss became NaN/m,
          );
          failed = createdId(bad);
        },
      );

      await t.step("cancel, then watch exits 4", async () => {
        const id = createdId(await fngd(["jobs", "create", long], env));
        const cancelled = await fngd(["jobs", "cancel", id], env);
        exited(cancelled, 0);
        assert.match(cancelled.stdout, /: (cancelling|cancelled)$/m);
        const watched = await fngd(["jobs", "watch", id], env);
        exited(watched, 4);
        assert.match(watched.stderr, /was cancelled/);
      });

      await t.step("list, get, model and upload", async () => {
        const csv = join(dir, "tiny.csv");
        await Deno.writeTextFile(
          csv,
          "a,b,label\n0.1,0.2,0\n0.3,0.1,1\n0.5,0.9,0\n0.7,0.2,1\n",
        );
        const out = join(dir, "model");
        const [listed, listedJson, failedJson, got, gotJson, model, upload] =
          await Promise.all([
            fngd(["jobs", "list"], env),
            fngd(["jobs", "list", "--json"], env),
            fngd(["jobs", "list", "--status", "failed", "--json"], env),
            fngd(["jobs", "get", succeeded], env),
            // Flags instead of the environment.
            fngd([
              "jobs",
              "get",
              succeeded,
              "--json",
              "--url",
              api.base,
              "--api-key",
              KEY_A,
            ], {}),
            fngd(["jobs", "model", succeeded, "--out", out], env),
            fngd(["datasets", "upload", csv, "--json"], env),
          ]);
        exited(listed, 0);
        const [header, ...rows] = listed.stdout.trimEnd().split("\n");
        assert.match(header, /^ID +STATUS +OPTIMIZER +DATASET +EPOCH/);
        assert.equal(rows.length, 4, listed.stdout);
        assert.match(
          rows.find((r) => r.startsWith(succeeded)) ?? "",
          /succeeded +fngd +synthetic +2\/2 +acc /,
        );
        exited(listedJson, 0);
        assert.equal(JSON.parse(listedJson.stdout).data.length, 4);
        exited(failedJson, 0);
        assert.deepEqual(
          JSON.parse(failedJson.stdout).data.map((j: { id: string }) => j.id),
          [failed],
        );
        exited(got, 0);
        assert.match(got.stdout, new RegExp(`^id: +${succeeded}$`, "m"));
        assert.match(got.stdout, /^status: +succeeded$/m);
        assert.match(got.stdout, /^result: +trained in /m);
        exited(gotJson, 0);
        assert.equal(JSON.parse(gotJson.stdout).status, "succeeded");

        exited(model, 0);
        const modelJson = JSON.parse(
          await Deno.readTextFile(join(out, "model.json")),
        );
        await initBackend("wasm");
        const [group] = modelJson.weightsManifest;
        // The manifest names files beside model.json, as file:// loading needs.
        const weights = await Deno.readFile(join(out, group.paths[0]));
        const loaded = await tf.loadLayersModel(tf.io.fromMemory({
          modelTopology: modelJson.modelTopology,
          weightSpecs: group.weights,
          weightData: weights.buffer,
        }));
        try {
          const y = loaded.predict(tf.zeros([2, 8])) as tf.Tensor;
          assert.deepEqual(y.shape, [2, 3]);
          y.dispose();
        } finally {
          loaded.dispose();
        }

        exited(upload, 0);
        const dataset = JSON.parse(upload.stdout);
        assert.equal(dataset.format, "csv");
        assert.equal(dataset.samples, 4);
        assert.deepEqual(dataset.shape, [2]);
        assert.equal(
          (await api.call(`/v1/datasets/${dataset.id}`)).status,
          200,
        );
      });
    } finally {
      await worker?.stop();
      await proxy.close();
      await api.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

/** An event as the stream carries it, `seconds` after a fixed start. */
function event<T extends JobEvent["type"]>(
  seq: number,
  type: T,
  seconds: number,
  data: Extract<JobEvent, { type: T }>["data"],
): JobEvent {
  const created_at = new Date(Date.UTC(2026, 0, 1) + seconds * 1000)
    .toISOString();
  return { seq, type, created_at, data } as JobEvent;
}

const STEP = { phase: "inversion", lr: 0.1 } as const;
const EPOCH = {
  phase: "inversion",
  steps: 4,
  train_loss: 0.5,
  val_loss: 0.4,
  val_accuracy: 0.9,
  lr: 0.1,
} as const;

Deno.test("the tracker estimates from the events' own times and prints each epoch", () => {
  const tracker = new ProgressTracker(3);
  assert.deepEqual(
    tracker.handle(event(1, "status", 0, { status: "running", attempt: 1 })),
    [{ kind: "line", text: "status running (attempt 1)" }],
  );
  tracker.handle(
    event(2, "step", 1, { epoch: 1, step: 1, steps: 4, loss: 2, ...STEP }),
  );
  assert.equal(tracker.state.jobEta, undefined, "no rate from one step");
  const [progress] = tracker.handle(
    event(3, "step", 3, { epoch: 1, step: 3, steps: 4, loss: 1, ...STEP }),
  );
  // 1 s a step: 1 step left in epoch 1, then 2 epochs of 4 steps.
  assert.deepEqual(progress, {
    kind: "progress",
    state: {
      epochs: 3,
      finished: 0,
      epoch: 1,
      step: 3,
      steps: 4,
      loss: 1,
      phase: "inversion",
      epochEta: 1,
      jobEta: 9,
    },
  });
  const out = tracker.handle(
    event(4, "epoch", 4, { epoch: 1, seconds: 2, ...EPOCH }),
  );
  assert.equal(out[0].kind, "line");
  assert.equal(
    out[0].kind === "line" && out[0].text,
    "epoch 1/3  inversion     train_loss 0.5  val_loss 0.4  val_accuracy 0.9  2.0s",
  );
  // Later epochs are guessed at the last one's 2 s.
  assert.equal(tracker.state.jobEta, 4);
  tracker.handle(event(5, "job_error", 5, { code: "diverged", message: "x" }));
  tracker.handle(event(6, "status", 5, { status: "failed" }));
  assert.equal(tracker.final?.status, "failed");
  assert.equal(tracker.error?.code, "diverged");
});

Deno.test("plain view: every lasting line, a step line only after a quiet spell", () => {
  const out: string[] = [];
  let now = 0;
  const view = new PlainView(
    (s) => out.push(s),
    (s) => out.push(`!${s}`),
    1000,
    () => now,
  );
  const state = {
    epochs: 2,
    finished: 0,
    epoch: 1,
    step: 1,
    steps: 10,
    loss: 0.5,
    phase: "inversion" as const,
  };
  view.line("status running");
  view.progress(state);
  now = 999;
  view.progress({ ...state, step: 2 });
  now = 1000;
  view.progress({ ...state, step: 3 });
  view.warn("connection lost");
  assert.deepEqual(out, [
    "status running",
    "epoch 1/2  step 3/10  loss 0.5  inversion",
    "!connection lost",
  ]);
});

/** A CSI escape sequence (cursor moves, erasing): what a terminal hides. */
const ESC_SEQUENCE = new RegExp(
  `${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`,
  "g",
);

Deno.test("bars view draws an epoch bar and a step bar on a TTY, lines above them, and restores the cursor", () => {
  let written = "";
  const view = new BarsView({
    isTTY: true,
    columns: 120,
    write: (s: string) => (written += s, true),
  });
  view.line("status running");
  view.progress({
    epochs: 3,
    finished: 1,
    epoch: 2,
    step: 5,
    steps: 10,
    loss: 0.25,
    phase: "inverse_free",
    epochEta: 5,
    jobEta: 25,
  });
  view.line("epoch 1/3 ...");
  view.close();
  const plain = written.replaceAll(ESC_SEQUENCE, "");
  assert.match(plain, /^status running\n/);
  assert.match(plain, /epochs {2}\[█{10}░{20}\] 1\/3 {2}ETA 25s/);
  assert.match(
    plain,
    /epoch 2 \[█{15}░{15}\] 5\/10 {2}loss 0\.25 {2}inverse_free {2}ETA 5\.0s/,
  );
  assert.match(plain, /epoch 1\/3 \.\.\./);
  assert.ok(written.includes("\x1b[?25h"), "the cursor is shown again");
});

Deno.test("tables pad each column to its widest cell", () => {
  assert.equal(
    table([{ header: "ID" }, { header: "N", align: "right" }], [
      ["a", "1"],
      ["bbb", "22"],
    ]),
    "ID    N\na     1\nbbb  22",
  );
});

Deno.test("the compile config pins the CLI's packages at deno.json's versions", async () => {
  const read = async (path: string) =>
    JSON.parse(await Deno.readTextFile(join(ROOT, path))).imports as Record<
      string,
      string
    >;
  const [root, compile] = await Promise.all([
    read("deno.json"),
    read("src/cli/compile.json"),
  ]);
  for (const [name, target] of Object.entries(compile)) {
    assert.equal(target, root[name], name);
  }
});
