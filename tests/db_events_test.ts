/** Event seqs and idempotent submission under concurrency. */
import assert from "node:assert/strict";
import {
  appendJobEvent,
  closeDb,
  createDb,
  createJob,
  listJobEvents,
  listJobs,
} from "../db/mod.ts";
import { createTestDb } from "./_db.ts";

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
