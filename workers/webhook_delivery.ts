/**
 * Sends queued webhook deliveries (db/webhook_deliveries.ts): claims due
 * ones, signs each per Standard Webhooks, posts it, and records the outcome,
 * retrying failures with exponential backoff. Any number of processes may
 * run it against one database; the API processes do (src/main.ts,
 * src/api_main.ts), because a training worker's event loop is busy with
 * tensor work between steps.
 */
import {
  claimDueDeliveries,
  type ClaimedDelivery,
  type DeliveryResult,
  isLocalhostName,
  isLoopbackIp,
  parseIp,
  type Queryable,
  refusedAddress,
  settleDelivery,
  sleep,
  type WebhookUrlPolicy,
} from "../db/mod.ts";

/** How deliveries are sent. */
export interface WebhookDeliveryOptions {
  db: Queryable;
  policy: WebhookUrlPolicy;
  /** Attempts before a delivery is given up (WEBHOOK_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** Wait after the first failure; doubled after each further one. */
  backoffMs: number;
  /** Per-attempt limit on connecting, sending and the response's headers. */
  timeoutMs: number;
  /** Idle poll interval. */
  pollMs: number;
  log: (message: string) => void;
  /** Resolves a host name to addresses (default: Deno.resolveDns, A and AAAA). */
  resolve?: (host: string) => Promise<string[]>;
}

/** Deliveries claimed per round, sent concurrently. */
const BATCH = 10;
/** Most response-body characters kept for the record. */
const EXCERPT_CHARS = 200;
const MAX_ERROR_CHARS = 500;

const encoder = new TextEncoder();

/** base64 of `bytes`. */
function base64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/**
 * The Standard Webhooks signature header value, `v1,<base64 HMAC-SHA256>`
 * of `id.timestamp.body` under the secret's decoded bytes.
 */
export async function signWebhook(
  secret: string,
  id: string,
  timestamp: number,
  body: string,
): Promise<string> {
  const raw = Uint8Array.from(
    atob(secret.replace(/^whsec_/, "")),
    (c) => c.charCodeAt(0),
  );
  const key = await crypto.subtle.importKey(
    "raw",
    raw,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign(
    "HMAC",
    key,
    encoder.encode(`${id}.${timestamp}.${body}`),
  );
  return `v1,${base64(new Uint8Array(mac))}`;
}

async function resolveDns(host: string): Promise<string[]> {
  const found = await Promise.allSettled([
    Deno.resolveDns(host, "A"),
    Deno.resolveDns(host, "AAAA"),
  ]);
  const addrs = found.flatMap((r) => r.status === "fulfilled" ? r.value : []);
  if (addrs.length === 0) {
    const why = found.find((r) => r.status === "rejected") as
      | PromiseRejectedResult
      | undefined;
    throw new Error(
      `could not resolve ${host}: ${why?.reason?.message ?? "no addresses"}`,
    );
  }
  return addrs;
}

/**
 * Why `url` may not be posted to now, after resolving its host (a name
 * re-pointed at an internal address since submission is caught here), or
 * undefined when it may.
 */
export async function refusedTarget(
  url: URL,
  policy: WebhookUrlPolicy,
  resolve: (host: string) => Promise<string[]> = resolveDns,
): Promise<string | undefined> {
  const host = url.hostname.toLowerCase();
  const literal = parseIp(host);
  const addrs = literal
    ? [host]
    : isLocalhostName(host)
    ? ["127.0.0.1"]
    : await resolve(host);
  for (const addr of addrs) {
    const ip = parseIp(addr);
    if (!ip) return `${host} resolved to an unreadable address ${addr}`;
    if (url.protocol === "http:" && !(policy.allowHttp && isLoopbackIp(ip))) {
      return `http is allowed only to loopback; ${host} is ${addr}`;
    }
    const why = refusedAddress(ip, policy);
    if (why) return `${host} resolves to ${addr}, which ${why}`;
  }
  return undefined;
}

/** The first characters of a response body, reading no more than needed. */
async function excerpt(res: Response): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    while (text.length < EXCERPT_CHARS) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    // A body cut short: keep what arrived.
  } finally {
    await reader.cancel().catch(() => {});
  }
  return text.slice(0, EXCERPT_CHARS);
}

/** One attempt at `d`, never throwing. */
export async function attemptDelivery(
  d: ClaimedDelivery,
  opts: Pick<WebhookDeliveryOptions, "policy" | "timeoutMs" | "resolve">,
): Promise<Omit<DeliveryResult, "retryInMs">> {
  try {
    const url = new URL(d.url);
    const refused = await refusedTarget(url, opts.policy, opts.resolve);
    if (refused) return { ok: false, error: `refused: ${refused}` };
    const body = JSON.stringify(d.payload);
    const timestamp = Math.floor(Date.now() / 1000);
    const res = await fetch(url, {
      method: "POST",
      body,
      // A redirect could lead anywhere, past the address checks above.
      redirect: "manual",
      signal: AbortSignal.timeout(opts.timeoutMs),
      headers: {
        "content-type": "application/json",
        "user-agent": "fngd-webhooks/1",
        "webhook-id": d.id,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": await signWebhook(d.secret, d.id, timestamp, body),
      },
    });
    const text = await excerpt(res);
    const ok = res.status >= 200 && res.status < 300;
    return {
      ok,
      statusCode: res.status,
      excerpt: text,
      error: ok
        ? undefined
        : res.status >= 300 && res.status < 400
        ? `redirect (${res.status}) not followed`
        : `HTTP ${res.status}`,
    };
  } catch (err) {
    const e = err as Error;
    const message = e?.name === "TimeoutError"
      ? `no response within ${opts.timeoutMs} ms`
      : `${e?.message ?? err}`;
    return { ok: false, error: message.slice(0, MAX_ERROR_CHARS) };
  }
}

/**
 * One round: claims due deliveries, sends them, records each outcome.
 * Returns how many were claimed.
 */
export async function deliverDueWebhooks(
  opts: WebhookDeliveryOptions,
): Promise<number> {
  // The claim's lease outlasts an attempt, so no one else takes it meanwhile.
  const claimed = await claimDueDeliveries(
    opts.db,
    BATCH,
    opts.timeoutMs + 30_000,
  );
  await Promise.all(claimed.map(async (d) => {
    const result = await attemptDelivery(d, opts);
    const retryInMs = result.ok || d.attempts >= opts.maxAttempts
      ? undefined
      : opts.backoffMs * 2 ** (d.attempts - 1);
    if (!result.ok) {
      opts.log(
        `webhook ${d.id} (job ${d.jobId}, ${d.event}) attempt ${d.attempts}: ${result.error}${
          retryInMs === undefined ? "; giving up" : ""
        }`,
      );
    }
    await settleDelivery(opts.db, d.id, d.attempts, { ...result, retryInMs });
  }));
  return claimed.length;
}

/** A running delivery loop. */
export interface WebhookDeliverer {
  /** Stops after the round in flight. */
  stop(): Promise<void>;
}

/** Delivers until stopped: a round, then (when idle) a sleep of `pollMs`. */
export function startWebhookDelivery(
  opts: WebhookDeliveryOptions,
): WebhookDeliverer {
  const stopping = new AbortController();
  const loop = (async () => {
    let waitMs = opts.pollMs;
    while (!stopping.signal.aborted) {
      try {
        const n = await deliverDueWebhooks(opts);
        waitMs = opts.pollMs;
        if (n > 0) continue;
      } catch (err) {
        // Database down: back off, keep going.
        opts.log(`webhook delivery: ${(err as Error).message}`);
        waitMs = Math.min(waitMs * 2, 30_000);
      }
      await sleep(waitMs, stopping.signal);
    }
  })();
  return {
    async stop() {
      stopping.abort();
      await loop;
    },
  };
}
