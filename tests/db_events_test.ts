/** Event seqs and idempotent submission under concurrency. */
import assert from "node:assert/strict";
import {
  appendJobEvent,
  appendLeasedEvent,
  claimNextJob,
  closeDb,
  createDb,
  createJob,
  failJob,
  JOB_EVENTS_CHANNEL,
  listen,
  listJobEvents,
  listJobs,
} from "../db/mod.ts";
import { createClaimedJob, createTestDb, leaseOf } from "./_db.ts";

Deno.test("appendJobEvent gives gap-free seqs under concurrent appends from 4 connections", async () => {
  const t = await createTestDb();
  const writers = Array.from({ length: 4 }, () => createDb(t.url, { max: 2 }));
  try {
    const { job } = await createJob(t.db, { tenant: "t", spec: {} });
    await Promise.all(
      writers.flatMap((db, w) =>
        Array.from(
          { length: 25 },
          (_, i) => appendJobEvent(db, job.id, "log", { w, i }),
        )
      ),
    );
    const events = await listJobEvents(t.db, job.id, { limit: 1000 });
    assert.equal(events.length, 101);
    assert.deepEqual(
      events.map((e) => e.seq),
      Array.from({ length: 101 }, (_, i) => i + 1),
    );
    const page = await listJobEvents(t.db, job.id, { after: 99, limit: 10 });
    assert.deepEqual(page.map((e) => e.seq), [100, 101]);
  } finally {
    await Promise.all(writers.map((db) => closeDb(db)));
    await t.close();
  }
});

Deno.test("appendJobEvent rejects an unknown job and leaves no trace", async () => {
  const t = await createTestDb();
  try {
    await assert.rejects(
      appendJobEvent(t.db, crypto.randomUUID(), "log", {}),
      /not found/,
    );
  } finally {
    await t.close();
  }
});

Deno.test("createJob with one idempotency key racing from 4 connections makes one job", async () => {
  const t = await createTestDb();
  const clients = Array.from({ length: 4 }, () => createDb(t.url, { max: 1 }));
  try {
    const results = await Promise.all(
      clients.map((db) =>
        createJob(db, { tenant: "t", spec: { n: 1 }, idempotencyKey: "same" })
      ),
    );
    assert.equal(results.filter((r) => r.created).length, 1);
    assert.equal(new Set(results.map((r) => r.job.id)).size, 1);
    const other = await createJob(t.db, {
      tenant: "u",
      spec: { n: 1 },
      idempotencyKey: "same",
    });
    assert.ok(other.created, "keys are per tenant");
    assert.notEqual(other.job.id, results[0].job.id);
    const listed = await listJobs(t.db, "t", { limit: 10 });
    assert.equal(listed.data.length, 1);
    const events = await listJobEvents(t.db, results[0].job.id, { limit: 10 });
    assert.deepEqual(events.map((e) => e.data), [{ status: "queued" }]);
  } finally {
    await Promise.all(clients.map((db) => closeDb(db)));
    await t.close();
  }
});

Deno.test("closeDb ends LISTENs first, even ones still starting or stopping", async () => {
  const t = await createTestDb();
  const other = createDb(t.url, { max: 1 });
  try {
    const got: string[] = [];
    const first = await listen(t.db, JOB_EVENTS_CHANNEL, (p) => got.push(p));
    const { job } = await createJob(other, { tenant: "t", spec: {} });
    await appendJobEvent(other, job.id, "log", {});
    if (!t.embedded) {
      // NOTIFY crosses connections on a real server (never on PGlite).
      const deadline = Date.now() + 5000;
      while (got.length < 2 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(got, [job.id, job.id]);
    }
    void first(); // fire and forget, as a closing SSE stream does
    // A LISTEN still being set up when the pool closes, released the same way:
    // without closeDb's bookkeeping postgres.js throws an uncaught
    // CONNECTION_DESTROYED after end()'s timeout, failing this test.
    void listen(other, JOB_EVENTS_CHANNEL, () => {}).then((stop) => stop());
    const started = Date.now();
    await Promise.all([closeDb(other), closeDb(t.db)]);
    assert.ok(Date.now() - started < 3000, "no wait for the end() timeout");
    await new Promise((r) => setTimeout(r, 1500)); // let a stray rejection surface
  } finally {
    await t.close();
  }
});

Deno.test("a leased worker's retried append is a no-op, and a gap is refused", async () => {
  const t = await createTestDb();
  try {
    const { job, lease } = await createClaimedJob(t.db);
    const next = job.lastEventSeq + 1;
    const event = { seq: next, type: "log", data: { n: 1 } };
    assert.equal(await appendLeasedEvent(t.db, lease, event), true);
    // The retry after an ambiguous COMMIT: same seq, nothing new.
    assert.equal(await appendLeasedEvent(t.db, lease, event), true);
    await assert.rejects(
      appendLeasedEvent(t.db, lease, { ...event, seq: next + 2 }),
      /would leave a gap: the log ends at 3/,
    );
    const events = await listJobEvents(t.db, job.id, { limit: 100 });
    assert.deepEqual(events.map((e) => [e.seq, e.type]), [
      [1, "status"],
      [2, "status"],
      [3, "log"],
    ]);
    // Reclaimed: the old lease appends nothing, and says so.
    const stale = { ...lease, attempt: lease.attempt + 1 };
    assert.equal(
      await appendLeasedEvent(t.db, stale, { ...event, seq: next + 1 }),
      false,
    );
    assert.equal(
      (await listJobEvents(t.db, job.id, { limit: 100 })).length,
      3,
    );
  } finally {
    await t.close();
  }
});

Deno.test("failJob writes the error event and the terminal status together, or neither", async () => {
  const t = await createTestDb();
  try {
    const { job, lease } = await createClaimedJob(t.db);
    const error = { code: "diverged", message: "loss is NaN" };
    assert.equal(
      await failJob(t.db, { ...lease, workerId: "someone-else" }, error),
      undefined,
    );
    assert.equal(
      (await listJobEvents(t.db, job.id, { limit: 100 })).length,
      2,
      "a fenced-out failJob leaves no error event behind",
    );
    const failed = await failJob(t.db, lease, error);
    assert.equal(failed?.status, "failed");
    assert.equal(failed?.lastEventSeq, 4);
    // A retry after the commit confirms instead of failing or duplicating.
    assert.equal((await failJob(t.db, lease, error))?.status, "failed");
    const events = await listJobEvents(t.db, job.id, { limit: 100 });
    assert.deepEqual(events.map((e) => [e.seq, e.type, e.data]), [
      [1, "status", { status: "queued" }],
      [2, "status", { status: "running", attempt: 1, worker: "w" }],
      [3, "job_error", error],
      [4, "status", { status: "failed", error }],
    ]);
    assert.equal(await claimNextJob(t.db, "w2", 30), undefined);
    assert.equal(leaseOf(failed!).attempt, 1);
  } finally {
    await t.close();
  }
});
