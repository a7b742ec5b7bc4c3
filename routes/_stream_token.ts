/**
 * Short-lived, job-scoped stream tokens: a browser's EventSource cannot send
 * Authorization, so POST /v1/jobs/{id}/stream-token hands out a token that
 * GET /v1/jobs/{id}/events/stream accepts as `?token=`. Stateless: an
 * HMAC-SHA256 over (tenant, job id, expiry), so any API process holding the
 * same secret can check it and nothing is stored.
 */

/** The query parameter that carries a stream token. */
export const STREAM_TOKEN_PARAM = "token";

/** Default lifetime: long enough to open a stream, short enough to leak little. */
export const DEFAULT_STREAM_TOKEN_TTL_S = 300;

// Version tag first, so a later format can be told apart and refused cleanly.
const TOKEN = /^st1\.([A-Za-z0-9_-]{1,128})\.(\d{1,15})\.([A-Za-z0-9_-]{43})$/;

/** The only route a token opens: GET of one job's event stream. */
const STREAM_PATH = /^\/v1\/jobs\/([^/]+)\/events\/stream$/;

function b64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromB64url(text: string): Uint8Array<ArrayBuffer> | undefined {
  try {
    const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  } catch {
    return undefined;
  }
}

// JSON of an array: unambiguous however the fields are spelled.
const message = (tenant: string, jobId: string, expMs: number) =>
  new TextEncoder().encode(
    JSON.stringify(["fngd-stream-token-v1", tenant, jobId, expMs]),
  );

/** Issues and checks stream tokens with one HMAC key. */
export class StreamTokens {
  private constructor(
    private readonly key: CryptoKey,
    /** Lifetime of a new token, in seconds. */
    readonly ttlS: number,
  ) {}

  /**
   * `secret` unset: a random key for this process only, so tokens do not
   * survive a restart nor work on another API process (share
   * STREAM_TOKEN_SECRET when several run behind one load balancer).
   */
  static async create(
    secret: string | undefined,
    ttlS = DEFAULT_STREAM_TOKEN_TTL_S,
  ): Promise<StreamTokens> {
    const raw = secret !== undefined
      ? new TextEncoder().encode(secret)
      : crypto.getRandomValues(new Uint8Array(32));
    const key = await crypto.subtle.importKey(
      "raw",
      raw,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    return new StreamTokens(key, ttlS);
  }

  /** A token for `tenant` to read job `jobId`'s stream until `expiresAt`. */
  async issue(
    tenant: string,
    jobId: string,
    now = Date.now(),
  ): Promise<{ token: string; expiresAt: Date }> {
    const expMs = now + this.ttlS * 1000;
    const sig = new Uint8Array(
      await crypto.subtle.sign("HMAC", this.key, message(tenant, jobId, expMs)),
    );
    const t = b64url(new TextEncoder().encode(tenant));
    return {
      token: `st1.${t}.${expMs}.${b64url(sig)}`,
      expiresAt: new Date(expMs),
    };
  }

  /**
   * The tenant `token` was issued to, if it is intact, unexpired and for
   * `jobId`; undefined otherwise. crypto.subtle.verify compares in constant
   * time.
   */
  async verify(
    token: string,
    jobId: string,
    now = Date.now(),
  ): Promise<string | undefined> {
    const m = TOKEN.exec(token);
    if (!m) return undefined;
    const expMs = Number(m[2]);
    if (!(expMs > now)) return undefined;
    const tenantBytes = fromB64url(m[1]);
    const sig = fromB64url(m[3]);
    if (!tenantBytes || !sig) return undefined;
    let tenant: string;
    try {
      tenant = new TextDecoder("utf-8", { fatal: true }).decode(tenantBytes);
    } catch {
      return undefined;
    }
    const ok = await crypto.subtle.verify(
      "HMAC",
      this.key,
      sig,
      message(tenant, jobId, expMs),
    );
    return ok ? tenant : undefined;
  }
}

/**
 * The job id of a request a stream token may authorize (GET of
 * /v1/jobs/{id}/events/stream), or undefined for every other request.
 */
export function streamTokenJobId(
  method: string,
  url: string,
): string | undefined {
  if (method !== "GET") return undefined;
  const m = STREAM_PATH.exec(new URL(url, "http://x").pathname);
  if (!m) return undefined;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return undefined;
  }
}

/**
 * `url` (absolute, or a path with a query) with the `token` query parameter's
 * value replaced, for anything that logs request URLs: a token in a log is a
 * credential anyone reading the log could replay until it expires.
 */
export function redactToken(url: string): string {
  const q = url.indexOf("?");
  if (q < 0) return url;
  const hash = url.indexOf("#", q);
  const end = hash < 0 ? url.length : hash;
  const query = url.slice(q + 1, end).split("&").map((part) => {
    const eq = part.indexOf("=");
    const name = eq < 0 ? part : part.slice(0, eq);
    let decoded = name;
    try {
      decoded = decodeURIComponent(name.replace(/\+/g, " "));
    } catch {
      // An undecodable name is compared as written.
    }
    return decoded === STREAM_TOKEN_PARAM ? `${name}=REDACTED` : part;
  }).join("&");
  return url.slice(0, q + 1) + query + url.slice(end);
}
