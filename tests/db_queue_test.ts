/** The queue: claims, leases, attempts and the locked_by guards, on a real database. */
import assert from "node:assert/strict";
import {
  claimNextJob,
  closeDb,
  completeJob,
  createDb,
  createJob,
  failJob,
  getJob,
  heartbeatJob,
  listJobEvents,
  markCancelled,
  releaseJob,
  requestCancel,
} from "../db/mod.ts";
import { createTestDb, leaseOf } from "./_db.ts";

const SPEC = { epochs: 1 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("claimNextJob hands each of 50 jobs to exactly one of 4 concurrent claimers", async () => {
  const t = await createTestDb();
  const claimers = Array.from({ length: 4 }, () => createDb(t.url, { max: 1 }));
  try {
    const ids = new Set<string>();
    for (let i = 0; i < 50; i++) {
      ids.add((await createJob(t.db, { tenant: "t", spec: SPEC })).job.id);
    }
    const claimed: string[][] = await Promise.all(
      claimers.map(async (db, w) => {
        const mine: string[] = [];
        for (;;) {
          const job = await claimNextJob(db, `w${w}`, 30);
          if (!job) return mine;
          assert.equal(job.lockedBy, `w${w}`);
          assert.equal(job.attempts, 1);
          mine.push(job.id);
        }
      }),
    );
    const all = claimed.flat();
    assert.equal(all.length, 50, "every job claimed once, none twice");
    assert.deepEqual(new Set(all), ids);
    assert.equal(await claimNextJob(t.db, "late", 30), undefined);
  } finally {
    await Promise.all(claimers.map((db) => closeDb(db)));
    await t.close();
  }
});

Deno.test("an expired lease is reclaimed, and the old worker can no longer finish the job", async () => {
  const t = await createTestDb();
  try {
    const { job } = await createJob(t.db, { tenant: "t", spec: SPEC });
    const first = await claimNextJob(t.db, "old", 1);
    assert.equal(first?.id, job.id);
    const old = leaseOf(first!);
    assert.equal(
      await claimNextJob(t.db, "new", 30),
      undefined,
      "lease still held",
    );
    await sleep(1200);
    const second = await claimNextJob(t.db, "new", 30);
    assert.equal(second?.id, job.id);
    assert.equal(second?.attempts, 2);
    assert.equal(second?.lockedBy, "new");
    const current = leaseOf(second!);

    assert.deepEqual(await heartbeatJob(t.db, old, 30), {
      ok: false,
      cancelRequested: false,
    });
    assert.equal(await completeJob(t.db, old, { x: 1 }), undefined);
    assert.equal(
      await failJob(t.db, old, { code: "internal", message: "x" }),
      undefined,
    );
    assert.equal(await markCancelled(t.db, old), undefined);
    assert.equal((await getJob(t.db, "t", job.id))?.status, "running");

    const done = await completeJob(t.db, current, { final: 1 });
    assert.equal(done?.status, "succeeded");
    assert.deepEqual(done?.result, { final: 1 });
    assert.equal(
      (await completeJob(t.db, current, { again: 1 }))?.status,
      "succeeded",
      "a retry of a committed completion confirms it",
    );
    assert.deepEqual((await getJob(t.db, "t", job.id))?.result, { final: 1 });
    const events = await listJobEvents(t.db, job.id, { limit: 100 });
    assert.deepEqual(
      events.map((e) => e.data.status),
      ["queued", "running", "running", "succeeded"],
    );
    assert.deepEqual(events.at(-1)?.data.result, { final: 1 });
  } finally {
    await t.close();
  }
});

Deno.test("a job whose lease expires on its last attempt fails with max_attempts_exceeded", async () => {
  const t = await createTestDb();
  try {
    const { job } = await createJob(t.db, {
      tenant: "t",
      spec: SPEC,
      maxAttempts: 2,
    });
    assert.equal((await claimNextJob(t.db, "a", 0.05))?.attempts, 1);
    await sleep(150);
    assert.equal((await claimNextJob(t.db, "b", 0.05))?.attempts, 2);
    await sleep(150);
    assert.equal(await claimNextJob(t.db, "c", 30), undefined);
    const failed = await getJob(t.db, "t", job.id);
    assert.equal(failed?.status, "failed");
    assert.equal(failed?.error?.code, "max_attempts_exceeded");
    assert.match(failed?.error?.message ?? "", /attempt 2 of 2/);
    assert.ok(failed?.finishedAt);
    const last = (await listJobEvents(t.db, job.id, { limit: 100 })).at(-1);
    assert.equal(last?.data.status, "failed");
  } finally {
    await t.close();
  }
});

Deno.test("heartbeat extends the lease and reports a cancel request", async () => {
  const t = await createTestDb();
  try {
    const { job } = await createJob(t.db, { tenant: "t", spec: SPEC });
    const lease = leaseOf((await claimNextJob(t.db, "w", 0.2))!);
    assert.deepEqual(await heartbeatJob(t.db, lease, 30), {
      ok: true,
      cancelRequested: false,
    });
    await sleep(300);
    assert.equal(
      await claimNextJob(t.db, "thief", 30),
      undefined,
      "renewed lease holds",
    );

    assert.equal(await requestCancel(t.db, "other", job.id), undefined);
    const cancelling = await requestCancel(t.db, "t", job.id);
    assert.equal(cancelling?.status, "cancelling");
    assert.ok(cancelling?.cancelRequestedAt);
    assert.equal(
      (await requestCancel(t.db, "t", job.id))?.status,
      "cancelling",
    );
    assert.deepEqual(await heartbeatJob(t.db, lease, 30), {
      ok: true,
      cancelRequested: true,
    });
    assert.equal((await markCancelled(t.db, lease))?.status, "cancelled");
    assert.equal((await requestCancel(t.db, "t", job.id))?.status, "cancelled");
    const statuses = (await listJobEvents(t.db, job.id, { limit: 100 }))
      .map((e) => e.data.status);
    // While a worker holds the lease it is the log's only writer: the API
    // records no `cancelling` event (the worker does, see worker_test.ts).
    assert.deepEqual(statuses, ["queued", "running", "cancelled"]);
  } finally {
    await t.close();
  }
});

Deno.test("requestCancel cancels a queued job at once, so it is never claimed", async () => {
  const t = await createTestDb();
  try {
    const { job } = await createJob(t.db, { tenant: "t", spec: SPEC });
    const cancelled = await requestCancel(t.db, "t", job.id);
    assert.equal(cancelled?.status, "cancelled");
    assert.ok(cancelled?.finishedAt);
    assert.equal(await claimNextJob(t.db, "w", 30), undefined);
    assert.equal(await requestCancel(t.db, "t", "not-a-uuid"), undefined);
  } finally {
    await t.close();
  }
});

Deno.test("an expired cancelling job is settled as cancelled, not retried", async () => {
  const t = await createTestDb();
  try {
    const { job } = await createJob(t.db, { tenant: "t", spec: SPEC });
    await claimNextJob(t.db, "w", 0.05);
    await requestCancel(t.db, "t", job.id);
    await sleep(150);
    assert.equal(await claimNextJob(t.db, "w2", 30), undefined);
    assert.equal((await getJob(t.db, "t", job.id))?.status, "cancelled");
  } finally {
    await t.close();
  }
});

Deno.test("releaseJob requeues without spending an attempt", async () => {
  const t = await createTestDb();
  try {
    const { job } = await createJob(t.db, { tenant: "t", spec: SPEC });
    const lease = leaseOf((await claimNextJob(t.db, "w", 30))!);
    assert.equal(lease.jobId, job.id);
    assert.equal(
      await releaseJob(t.db, { ...lease, workerId: "other" }),
      undefined,
    );
    assert.equal(
      await releaseJob(t.db, { ...lease, attempt: 2 }),
      undefined,
      "the attempt is part of the fencing token",
    );
    const released = await releaseJob(t.db, lease);
    assert.equal(released?.status, "queued");
    assert.equal(released?.attempts, 0);
    assert.equal(released?.lockedBy, null);
    assert.equal((await claimNextJob(t.db, "w2", 30))?.attempts, 1);
  } finally {
    await t.close();
  }
});

Deno.test("claims rotate across tenants: B's job starts within one job slot while A has 50 queued", async () => {
  const t = await createTestDb();
  try {
    for (let i = 0; i < 50; i++) {
      await createJob(t.db, { tenant: "A", spec: { i } });
    }
    await createJob(t.db, { tenant: "B", spec: { i: 0 } });
    await createJob(t.db, { tenant: "B", spec: { i: 1 } });
    await createJob(t.db, { tenant: "C", spec: { i: 0 } });
    // One job slot (WORKERS=1): each job finishes before the next claim.
    const order: string[] = [];
    for (let n = 0; n < 8; n++) {
      const job = await claimNextJob(t.db, "w", 30);
      assert.ok(job);
      order.push(`${job.tenant}${(job.spec as { i: number }).i}`);
      assert.ok(await completeJob(t.db, leaseOf(job), {}));
    }
    // Oldest first among never-served tenants, then the least recently
    // served tenant each time, each tenant's jobs oldest first.
    assert.deepEqual(order, ["A0", "B0", "C0", "A1", "B1", "A2", "A3", "A4"]);
    console.log(`claim order under a 50-job flood: ${order.join(" ")}`);
  } finally {
    await t.close();
  }
});

Deno.test("a tenant at MAX_RUNNING_PER_TENANT waits while other tenants' jobs are claimed", async () => {
  const t = await createTestDb();
  try {
    for (let i = 0; i < 3; i++) {
      await createJob(t.db, { tenant: "A", spec: { i } });
    }
    await createJob(t.db, { tenant: "B", spec: { i: 0 } });
    const cap = { maxRunningPerTenant: 1 };
    const first = await claimNextJob(t.db, "w1", 30, cap);
    const second = await claimNextJob(t.db, "w2", 30, cap);
    assert.deepEqual([first?.tenant, second?.tenant], ["A", "B"]);
    assert.equal(await claimNextJob(t.db, "w3", 30, cap), undefined);
    assert.equal(
      (await claimNextJob(t.db, "w3", 30))?.tenant,
      "A",
      "no cap: A runs a second job",
    );
    assert.ok(await completeJob(t.db, leaseOf(first!), {}));
    assert.equal(
      (await claimNextJob(t.db, "w4", 30, { maxRunningPerTenant: 2 }))
        ?.tenant,
      "A",
    );
  } finally {
    await t.close();
  }
});
