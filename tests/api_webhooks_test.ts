/**
 * Job webhooks: URL rules at submission, signed delivery (checked here with
 * an independent Standard Webhooks verifier), retries after a failure, the
 * deliveries table, and the delivery-time address check.
 */
import assert from "node:assert/strict";
import { listWebhookDeliveries, STRICT_WEBHOOK_POLICY } from "../db/mod.ts";
import {
  deliverDueWebhooks,
  type WebhookDeliveryOptions,
} from "../workers/webhook_delivery.ts";
import { postJob, startApi, syntheticJob } from "./_api.ts";

/** Standard Webhooks verification, written from the spec with Web Crypto. */
async function verify(
  secret: string,
  headers: Headers,
  body: string,
): Promise<boolean> {
  const id = headers.get("webhook-id")!;
  const ts = headers.get("webhook-timestamp")!;
  if (Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false;
  const key = await crypto.subtle.importKey(
    "raw",
    Uint8Array.from(
      atob(secret.slice("whsec_".length)),
      (c) => c.charCodeAt(0),
    ),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  for (const sig of headers.get("webhook-signature")!.split(" ")) {
    const [version, b64] = sig.split(",");
    if (version !== "v1") continue;
    const mac = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const ok = await crypto.subtle.verify(
      "HMAC",
      key,
      mac,
      new TextEncoder().encode(`${id}.${ts}.${body}`),
    );
    if (ok) return true;
  }
  return false;
}

interface Received {
  headers: Headers;
  body: string;
}

/** A loopback receiver answering `statuses` in turn (then 200). */
function receiver(statuses: number[]) {
  const got: Received[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      got.push({ headers: req.headers, body: await req.text() });
      const status = statuses.shift() ?? 200;
      return new Response(status === 200 ? "thanks" : "x".repeat(5000), {
        status,
      });
    },
  );
  return { got, url: `http://127.0.0.1:${server.addr.port}/hook`, server };
}

const deliverer = (
  api: { tdb: { db: WebhookDeliveryOptions["db"] } },
  over: Partial<WebhookDeliveryOptions> = {},
): WebhookDeliveryOptions => ({
  db: api.tdb.db,
  policy: { allowHttp: true, allowPrivate: true, allowCidrs: [] },
  maxAttempts: 3,
  backoffMs: 30,
  timeoutMs: 2000,
  pollMs: 10,
  log: () => {},
  ...over,
});

Deno.test("webhooks: signed, retried after a 500, recorded", async () => {
  const api = await startApi({
    ALLOW_HTTP_WEBHOOKS: "1",
    WEBHOOK_ALLOW_PRIVATE: "1",
  });
  const hook = receiver([500]);
  try {
    const res = await postJob(api, {
      ...syntheticJob(),
      webhook: { url: hook.url },
    });
    assert.equal(res.status, 201);
    const job = await res.json();
    assert.deepEqual(job.webhook, {
      url: hook.url,
      events: ["succeeded", "failed", "cancelled"],
    });
    assert.match(job.webhook_secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    const again = await (await api.call(`/v1/jobs/${job.id}`)).json();
    assert.equal(again.webhook_secret, undefined);
    assert.deepEqual(again.webhook, job.webhook);

    // Queued: no delivery (not a subscribed event). Cancelled: one.
    assert.equal(await deliverDueWebhooks(deliverer(api)), 0);
    await api.call(`/v1/jobs/${job.id}/cancel`, { method: "POST" });
    assert.equal(await deliverDueWebhooks(deliverer(api)), 1);
    let [row] = await listWebhookDeliveries(api.tdb.db, job.id);
    assert.equal(row.attempts, 1);
    assert.equal(row.statusCode, 500);
    assert.equal(row.lastError, "HTTP 500");
    assert.ok(row.responseExcerpt!.length <= 200);
    assert.equal(row.deliveredAt, null);
    // Not due before its backoff.
    assert.equal(await deliverDueWebhooks(deliverer(api)), 0);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(await deliverDueWebhooks(deliverer(api)), 1);
    [row] = await listWebhookDeliveries(api.tdb.db, job.id);
    assert.equal(row.attempts, 2);
    assert.equal(row.statusCode, 200);
    assert.equal(row.responseExcerpt, "thanks");
    assert.ok(row.deliveredAt);
    assert.equal(row.event, "cancelled");

    assert.equal(hook.got.length, 2);
    const [first, second] = hook.got;
    // The same id on every attempt, so receivers can de-duplicate.
    assert.equal(first.headers.get("webhook-id"), row.id);
    assert.equal(second.headers.get("webhook-id"), row.id);
    for (const r of hook.got) {
      assert.ok(await verify(job.webhook_secret, r.headers, r.body));
      assert.ok(!await verify(job.webhook_secret, r.headers, r.body + " "));
    }
    const payload = JSON.parse(second.body);
    assert.equal(payload.type, "job.cancelled");
    assert.equal(payload.data.job_id, job.id);
    assert.equal(payload.data.data.status, "cancelled");
    assert.ok(!Number.isNaN(Date.parse(payload.timestamp)));
  } finally {
    await hook.server.shutdown();
    await api.close();
  }
});

Deno.test("webhooks: gives up after the last attempt; events select what is sent", async () => {
  const api = await startApi({
    ALLOW_HTTP_WEBHOOKS: "1",
    WEBHOOK_ALLOW_PRIVATE: "1",
  });
  const hook = receiver([503, 503]);
  try {
    const job = await (await postJob(api, {
      ...syntheticJob(),
      webhook: { url: hook.url, events: ["cancelled", "running"] },
    })).json();
    await api.call(`/v1/jobs/${job.id}/cancel`, { method: "POST" });
    const opts = deliverer(api, { maxAttempts: 2, backoffMs: 1 });
    for (let i = 0; i < 2; i++) {
      await deliverDueWebhooks(opts);
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(await deliverDueWebhooks(opts), 0);
    const [row] = await listWebhookDeliveries(api.tdb.db, job.id);
    assert.equal(row.attempts, 2);
    assert.ok(row.failedAt);
    assert.equal(row.deliveredAt, null);
  } finally {
    await hook.server.shutdown();
    await api.close();
  }
});

Deno.test("webhooks: refused URLs are 400 naming webhook.url", async () => {
  const api = await startApi();
  try {
    for (
      const url of [
        "http://example.com/hook", // http, not loopback
        "http://127.0.0.1:9/hook", // http without ALLOW_HTTP_WEBHOOKS
        "https://10.0.0.1/hook",
        "https://192.168.1.20/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[fd00::1]/hook",
        "https://localhost/hook",
        "https://2130706433/hook", // 127.0.0.1 as one number
        "https://user:pw@example.com/hook",
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "not a url",
      ]
    ) {
      const res = await postJob(api, {
        ...syntheticJob(),
        webhook: { url },
      });
      assert.equal(res.status, 400, url);
      const problem = await res.json();
      assert.equal(problem.code, "validation_failed", url);
      assert.equal(problem.errors[0].path, "webhook.url", url);
    }
    for (const events of [[], ["bogus"]]) {
      const res = await postJob(api, {
        ...syntheticJob(),
        webhook: { url: "https://example.com/hook", events },
      });
      assert.equal(res.status, 400);
      assert.match((await res.json()).errors[0].path, /^webhook\.events/);
    }
    const ok = await postJob(api, {
      ...syntheticJob(),
      webhook: { url: "https://example.com/hook", events: ["epoch"] },
    });
    assert.equal(ok.status, 201);
    assert.equal(await api.count("jobs"), 1);
  } finally {
    await api.close();
  }
});

Deno.test("webhooks: a name resolving to an internal address is refused at delivery", async () => {
  const api = await startApi({
    ALLOW_HTTP_WEBHOOKS: "1",
    WEBHOOK_ALLOW_PRIVATE: "1",
  });
  const hook = receiver([]);
  try {
    const local = await (await postJob(api, {
      ...syntheticJob(),
      webhook: { url: hook.url.replace("127.0.0.1", "localhost") },
    })).json();
    const named = await (await postJob(api, {
      ...syntheticJob(),
      webhook: { url: "https://hooks.example.test/x" },
    })).json();
    for (const job of [local, named]) {
      await api.call(`/v1/jobs/${job.id}/cancel`, { method: "POST" });
    }
    // The deliverer's policy no longer allows private ranges; the name was
    // re-pointed at loopback after submission.
    const strict = deliverer(api, {
      policy: { ...STRICT_WEBHOOK_POLICY, allowHttp: true },
      resolve: (host) =>
        Promise.resolve(host === "hooks.example.test" ? ["127.0.0.1"] : []),
    });
    assert.equal(await deliverDueWebhooks(strict), 2);
    for (const job of [local, named]) {
      const [row] = await listWebhookDeliveries(api.tdb.db, job.id);
      assert.match(row.lastError!, /^refused: .* 127\.0\.0\.1/);
      assert.equal(row.statusCode, null);
    }
    assert.equal(hook.got.length, 0);
  } finally {
    await hook.server.shutdown();
    await api.close();
  }
});
