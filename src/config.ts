/**
 * Every environment variable the service reads, parsed once with zod so that a
 * typo fails at start-up with a message naming the variable, not later at use.
 */
import { z } from "zod";
import { BACKEND_NAMES, type BackendName } from "./engine/backend_names.ts";
import {
  type Cidr,
  parseCidr,
  type WebhookUrlPolicy,
} from "../db/webhook_url.ts";

/** Raised when the environment is invalid; the message lists every bad variable. */
export class ConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
  }
}

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** "65536", "64KiB", "64 MiB", "1g": binary units, because limits guard memory. */
const byteSize = (name: string) =>
  z.string().transform((raw, ctx) => {
    const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(raw);
    const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
    if (!m || unit === undefined || Number(m[1]) * unit < 1) {
      ctx.addIssue({
        code: "custom",
        message:
          `${name} must be a positive size like 1048576 or 64MiB, got "${raw}"`,
      });
      return z.NEVER;
    }
    return Number(m[1]) * unit;
  });

const intVar = (name: string, min: number, max: number) =>
  z.string().transform((raw, ctx) => {
    const n = Number(raw.trim());
    if (!/^\s*-?\d+\s*$/.test(raw) || n < min || n > max) {
      ctx.addIssue({
        code: "custom",
        message:
          `${name} must be an integer between ${min} and ${max}, got "${raw}"`,
      });
      return z.NEVER;
    }
    return n;
  });

/** "key1:tenantA,key2:tenantB" -> Map(key -> tenant). */
const apiKeys = z.string().transform((raw, ctx) => {
  const keys = new Map<string, string>();
  for (const entry of raw.split(",").map((s) => s.trim()).filter(Boolean)) {
    const at = entry.lastIndexOf(":");
    const key = entry.slice(0, at).trim();
    const tenant = entry.slice(at + 1).trim();
    if (at <= 0 || !tenant || !/^[\w.-]{1,64}$/.test(tenant)) {
      ctx.addIssue({
        code: "custom",
        message:
          `API_KEYS entries must look like key:tenant (tenant of letters, digits, . _ -), got "${entry}"`,
      });
      return z.NEVER;
    }
    keys.set(key, tenant);
  }
  if (keys.size === 0) {
    ctx.addIssue({
      code: "custom",
      message: "API_KEYS is set but holds no key:tenant pairs",
    });
    return z.NEVER;
  }
  return keys;
});

/** "2" -> [0, 1] (a count); "0,2" -> [0, 2] (explicit device indices). */
const gpus = z.string().transform((raw, ctx) => {
  const parts = raw.split(",").map((s) => s.trim()).filter(Boolean);
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p))) {
    ctx.addIssue({
      code: "custom",
      message:
        `GPUS must be a count like 2 or a list of indices like 0,2, got "${raw}"`,
    });
    return z.NEVER;
  }
  const nums = parts.map(Number);
  return parts.length === 1 && !raw.includes(",")
    ? Array.from({ length: nums[0] }, (_, i) => i)
    : nums;
});

/** A bare host name or IP literal, as the Host header carries it minus the port. */
const HOST_NAME =
  /^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)$/i;

const publicHost = z.string().transform((raw, ctx) => {
  const host = raw.trim().toLowerCase();
  if (!HOST_NAME.test(host)) {
    ctx.addIssue({
      code: "custom",
      message:
        `PUBLIC_HOST must be a host name without scheme, port or path, like api.example.com, got "${raw}"`,
    });
    return z.NEVER;
  }
  return host;
});

/** "https://app.example.com,http://localhost:5173" -> their serialized origins. */
const corsOrigins = z.string().transform((raw, ctx) => {
  const origins: string[] = [];
  for (const entry of raw.split(",").map((s) => s.trim()).filter(Boolean)) {
    let origin: string | undefined;
    try {
      const url = new URL(entry);
      // Exactly scheme://host[:port]: a path or a wildcard would never match
      // an Origin header, so it is a typo worth failing on.
      if (
        /^https?:$/.test(url.protocol) &&
        url.origin.toLowerCase() === entry.replace(/\/$/, "").toLowerCase()
      ) origin = url.origin;
    } catch {
      // Reported below.
    }
    if (!origin) {
      ctx.addIssue({
        code: "custom",
        message:
          `CORS_ORIGINS entries must be origins like https://app.example.com (scheme, host, optional port), got "${entry}"`,
      });
      return z.NEVER;
    }
    origins.push(origin);
  }
  return origins;
});

/** A bearer token: printable ASCII without spaces, long enough not to guess. */
const metricsToken = z.string().transform((raw, ctx) => {
  const token = raw.trim();
  if (!/^[\x21-\x7e]{16,512}$/.test(token)) {
    ctx.addIssue({
      code: "custom",
      message:
        "METRICS_TOKEN must be 16 to 512 printable characters without spaces",
    });
    return z.NEVER;
  }
  return token;
});

const flag = (name: string) =>
  z.string().transform((raw, ctx) => {
    const v = raw.trim().toLowerCase();
    if (["1", "true", "yes"].includes(v)) return true;
    if (["0", "false", "no"].includes(v)) return false;
    ctx.addIssue({
      code: "custom",
      message: `${name} must be 1 or 0, got "${raw}"`,
    });
    return z.NEVER;
  });

/** "1" (every internal range), "0", or a CIDR list like 10.0.0.0/8,::1/128. */
const allowPrivate = z.string().transform((raw, ctx) => {
  const v = raw.trim();
  if (v === "1" || v.toLowerCase() === "true") return true as const;
  if (v === "0" || v.toLowerCase() === "false") return [] as Cidr[];
  try {
    return v.split(",").map((s) => s.trim()).filter(Boolean).map(parseCidr);
  } catch (err) {
    ctx.addIssue({
      code: "custom",
      message:
        `WEBHOOK_ALLOW_PRIVATE must be 1, 0 or address ranges like 10.0.0.0/8,fd00::/8: ${
          (err as Error).message
        }`,
    });
    return z.NEVER;
  }
});

/** Where blobs go when not under DATA_DIR/blobs: an S3 bucket and key prefix. */
export interface S3BlobConfig {
  bucket: string;
  /** "" or ending in "/". */
  prefix: string;
  /** AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL: a custom, path-style endpoint. */
  endpoint?: string;
  region: string;
}

/** "s3://bucket/some/prefix" -> bucket and "some/prefix/". */
const blobUrl = z.string().transform((raw, ctx) => {
  const m = /^s3:\/\/([^/?#]*)(\/[^?#]*)?$/.exec(raw.trim());
  const bucket = m?.[1] ?? "";
  if (
    !m || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) ||
    bucket.includes("..")
  ) {
    ctx.addIssue({
      code: "custom",
      message:
        `BLOB_URL must look like s3://bucket/prefix (bucket of 3-63 lowercase letters, digits, dots and hyphens), got "${raw}"`,
    });
    return z.NEVER;
  }
  const prefix = (m[2] ?? "").replace(/^\/+|\/+$/g, "");
  return { bucket, prefix: prefix ? `${prefix}/` : "" };
});

/**
 * BLOB_URL with the standard AWS variables that say how to reach it
 * (credentials stay with the SDK, which reads AWS_ACCESS_KEY_ID and the rest).
 * @throws {ConfigError} on an endpoint that is not an http(s) URL.
 */
function s3BlobConfig(
  url: { bucket: string; prefix: string },
  env: Record<string, string | undefined>,
): S3BlobConfig {
  const name = env.AWS_ENDPOINT_URL_S3?.trim()
    ? "AWS_ENDPOINT_URL_S3"
    : "AWS_ENDPOINT_URL";
  const endpoint = env[name]?.trim() || undefined;
  if (endpoint !== undefined && !/^https?:\/\/\S+$/.test(endpoint)) {
    throw new ConfigError(
      `invalid environment:\n  ${name} must be an http(s) URL, got "${endpoint}"`,
    );
  }
  const region = env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() ||
    "us-east-1";
  return { ...url, endpoint, region };
}

const EnvSchema = z.object({
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, {
    error: (i) => `DATABASE_URL must be a postgres:// URL, got "${i.input}"`,
  }).optional(),
  DB_CONNECT_TIMEOUT_MS: intVar("DB_CONNECT_TIMEOUT_MS", 50, 60_000).optional(),
  DATA_DIR: z.string().default("./.data"),
  HOST: z.string().default("127.0.0.1"),
  PORT: intVar("PORT", 0, 65535).default(8787),
  API_KEYS: apiKeys.optional(),
  PUBLIC_HOST: publicHost.optional(),
  CORS_ORIGINS: corsOrigins.default([]),
  WORKERS: intVar("WORKERS", 0, 256).default(1),
  GPUS: gpus.optional(),
  LEASE_SECONDS: intVar("LEASE_SECONDS", 1, 86_400).default(30),
  CHECKPOINTS_KEPT: intVar("CHECKPOINTS_KEPT", 1, 1000).default(3),
  MAX_ATTEMPTS: intVar("MAX_ATTEMPTS", 1, 100).default(3),
  FNGD_BACKEND: z.enum(BACKEND_NAMES, {
    error: (i) =>
      `FNGD_BACKEND must be one of ${
        BACKEND_NAMES.join(", ")
      }, got "${i.input}"`,
  }).default("wasm"),
  // Threads per job: this one plus data-parallel shard workers. Default 1:
  // measured on wasm, a batch-128 MLP step gains nothing from a second
  // thread (XNNPACK repacks each fresh weight matrix per thread and call),
  // and each shard holds its own copy of the training split.
  FNGD_THREADS: intVar("FNGD_THREADS", 1, 64).default(1),
  FNGD_DATA_DIR: z.string().optional(),
  MAX_UPLOAD_BYTES: byteSize("MAX_UPLOAD_BYTES").default(64 * 1024 ** 2),
  MAX_BODY_BYTES: byteSize("MAX_BODY_BYTES").default(1024 ** 2),
  // 3 GiB: a wasm worker's backend lives in a 4 GiB heap, and the estimate
  // leaves out the runtime (~200 MB) and allocator slack; with the default
  // WORKERS=1 on the 24 GiB build machine that leaves ample room for the
  // API and Postgres. Keep WORKERS x MAX_JOB_BYTES under the machine's RAM.
  MAX_JOB_BYTES: byteSize("MAX_JOB_BYTES").default(3 * 1024 ** 3),
  MAX_QUEUED_PER_TENANT: intVar("MAX_QUEUED_PER_TENANT", 0, 1_000_000)
    .default(1000),
  MAX_RUNNING_PER_TENANT: intVar("MAX_RUNNING_PER_TENANT", 0, 10_000)
    .default(0),
  SSE_HEARTBEAT_MS: intVar("SSE_HEARTBEAT_MS", 10, 3_600_000).default(15_000),
  SSE_POLL_MS: intVar("SSE_POLL_MS", 10, 60_000).default(250),
  BLOB_URL: blobUrl.optional(),
  // 30 s: a 64 MiB upload still arrives at ~2.2 MB/s, while a client that
  // stops sending mid-body holds a handler for no longer than that.
  REQUEST_TIMEOUT_MS: intVar("REQUEST_TIMEOUT_MS", 10, 3_600_000)
    .default(30_000),
  METRICS_TOKEN: metricsToken.optional(),
  ALLOW_HTTP_WEBHOOKS: flag("ALLOW_HTTP_WEBHOOKS").default(false),
  WEBHOOK_ALLOW_PRIVATE: allowPrivate.optional(),
  WEBHOOK_MAX_ATTEMPTS: intVar("WEBHOOK_MAX_ATTEMPTS", 1, 50).default(5),
  // 30 s doubling: 5 attempts span about 7.5 minutes.
  WEBHOOK_BACKOFF_MS: intVar("WEBHOOK_BACKOFF_MS", 1, 86_400_000)
    .default(30_000),
  WEBHOOK_TIMEOUT_MS: intVar("WEBHOOK_TIMEOUT_MS", 100, 120_000)
    .default(10_000),
  WEBHOOK_POLL_MS: intVar("WEBHOOK_POLL_MS", 10, 600_000).default(1000),
  STREAM_TOKEN_SECRET: z.string().regex(/^[\x21-\x7e]{32,1024}$/, {
    error:
      "STREAM_TOKEN_SECRET must be 32 to 1024 printable characters without spaces",
  }).optional(),
  // Minutes at most by default: a token in a URL can end up in places a
  // header does not (browser history, a proxy's log).
  STREAM_TOKEN_TTL_S: intVar("STREAM_TOKEN_TTL_S", 1, 86_400).default(300),
});

/** The parsed configuration, camelCase, defaults filled in. */
export interface Config {
  /** Real Postgres when set; otherwise `deno task start` embeds PGlite. */
  databaseUrl?: string;
  /**
   * How long the API waits to open a connection to DATABASE_URL before it
   * answers 503; unset means db/client.ts's default (500 ms).
   */
  dbConnectTimeoutMs?: number;
  dataDir: string;
  host: string;
  /** 0 asks the OS for a free port. */
  port: number;
  /** Bearer key -> tenant; undefined means auth is off (loopback only). */
  apiKeys?: Map<string, string>;
  /**
   * With auth off, the one Host name besides loopback names that requests may
   * carry (e.g. a local reverse proxy's); others are refused with 421.
   */
  publicHost?: string;
  /** Browser origins allowed to call cross-origin (CORS); empty = CORS off. */
  corsOrigins: string[];
  workers: number;
  /** GPU indices to hand out to workers, one each. */
  gpus?: number[];
  leaseSeconds: number;
  /** Epoch checkpoints kept per job, newest first (each one's model downloadable). */
  checkpointsKept: number;
  maxAttempts: number;
  backend: BackendName;
  /** Threads per training run (FNGD_THREADS): shards where the run allows. */
  threads: number;
  fngdDataDir?: string;
  /** Largest dataset upload, in bytes. */
  maxUploadBytes: number;
  /** Largest JSON request body, in bytes. */
  maxBodyBytes: number;
  /** Largest estimated memory of one job (engine/cost.ts); larger jobs are refused. */
  maxJobBytes: number;
  /** Queued jobs a tenant may have before POST /v1/jobs answers 429; 0 = unlimited. */
  maxQueuedPerTenant: number;
  /** Running jobs a tenant may have at once (enforced by the claim); 0 = unlimited. */
  maxRunningPerTenant: number;
  /** Interval between SSE heartbeat comments. */
  sseHeartbeatMs: number;
  /** How often an SSE stream polls job_events (NOTIFY is only a hint). */
  ssePollMs: number;
  /** BLOB_URL: S3 storage for blobs; unset means files in DATA_DIR/blobs. */
  blobS3?: S3BlobConfig;
  /** Most time a request body may take to arrive and be read; then 408. */
  requestTimeoutMs: number;
  /**
   * Bearer token of GET /metrics, apart from tenant keys; with API keys on
   * and no token, /metrics is disabled.
   */
  metricsToken?: string;
  /** Which webhook URLs are accepted and delivered to. */
  webhookPolicy: WebhookUrlPolicy;
  /** Attempts per webhook delivery before it is given up. */
  webhookMaxAttempts: number;
  /** Wait after a delivery's first failure, doubled after each further one. */
  webhookBackoffMs: number;
  /** Per-attempt limit of a delivery. */
  webhookTimeoutMs: number;
  /** How often the deliverer looks for due deliveries when idle. */
  webhookPollMs: number;
  /**
   * HMAC key of stream tokens; unset means a random key per process, so
   * several API processes behind one load balancer must share one.
   */
  streamTokenSecret?: string;
  /** Lifetime of a stream token, in seconds. */
  streamTokenTtlS: number;
}

/**
 * Parses the environment once. Empty strings count as unset, so `API_KEYS=`
 * in a shell or compose file means "no keys", not "an invalid key list".
 * @throws {ConfigError} listing every invalid variable.
 */
export function loadConfig(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): Config {
  const present = Object.fromEntries(
    Object.keys(EnvSchema.shape)
      .map((k) => [k, env[k]] as const)
      .filter(([, v]) => v !== undefined && v.trim() !== ""),
  );
  const parsed = EnvSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) =>
      i.message.startsWith(String(i.path[0]))
        ? i.message
        : `${i.path.join(".")}: ${i.message}`
    );
    throw new ConfigError(`invalid environment:\n  ${lines.join("\n  ")}`);
  }
  const e = parsed.data;
  if (e.METRICS_TOKEN !== undefined && e.API_KEYS?.has(e.METRICS_TOKEN)) {
    // One secret must not open both a tenant's jobs and every tenant's counts.
    throw new ConfigError(
      "invalid environment:\n  METRICS_TOKEN must differ from every API_KEYS key",
    );
  }
  return {
    databaseUrl: e.DATABASE_URL,
    dbConnectTimeoutMs: e.DB_CONNECT_TIMEOUT_MS,
    dataDir: e.DATA_DIR,
    host: e.HOST,
    port: e.PORT,
    apiKeys: e.API_KEYS,
    publicHost: e.PUBLIC_HOST,
    corsOrigins: e.CORS_ORIGINS,
    workers: e.WORKERS,
    gpus: e.GPUS,
    leaseSeconds: e.LEASE_SECONDS,
    checkpointsKept: e.CHECKPOINTS_KEPT,
    maxAttempts: e.MAX_ATTEMPTS,
    backend: e.FNGD_BACKEND,
    threads: e.FNGD_THREADS,
    fngdDataDir: e.FNGD_DATA_DIR,
    maxUploadBytes: e.MAX_UPLOAD_BYTES,
    maxBodyBytes: e.MAX_BODY_BYTES,
    maxJobBytes: e.MAX_JOB_BYTES,
    maxQueuedPerTenant: e.MAX_QUEUED_PER_TENANT,
    maxRunningPerTenant: e.MAX_RUNNING_PER_TENANT,
    sseHeartbeatMs: e.SSE_HEARTBEAT_MS,
    ssePollMs: e.SSE_POLL_MS,
    blobS3: e.BLOB_URL && s3BlobConfig(e.BLOB_URL, env),
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    metricsToken: e.METRICS_TOKEN,
    webhookPolicy: {
      allowHttp: e.ALLOW_HTTP_WEBHOOKS,
      allowPrivate: e.WEBHOOK_ALLOW_PRIVATE === true,
      allowCidrs: Array.isArray(e.WEBHOOK_ALLOW_PRIVATE)
        ? e.WEBHOOK_ALLOW_PRIVATE
        : [],
    },
    webhookMaxAttempts: e.WEBHOOK_MAX_ATTEMPTS,
    webhookBackoffMs: e.WEBHOOK_BACKOFF_MS,
    webhookTimeoutMs: e.WEBHOOK_TIMEOUT_MS,
    webhookPollMs: e.WEBHOOK_POLL_MS,
    streamTokenSecret: e.STREAM_TOKEN_SECRET,
    streamTokenTtlS: e.STREAM_TOKEN_TTL_S,
  };
}
