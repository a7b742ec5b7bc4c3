/**
 * What the HTTP layer is configured with. The entry points fill it from the
 * environment, so that routes/ reads no environment and loads no config.
 */
import type { WebhookUrlPolicy } from "../db/mod.ts";

/** The options of {@link createApp} and of every route. */
export interface RouteOptions {
  /** Bearer key -> tenant; undefined turns auth off, allowed on loopback only. */
  apiKeys?: Map<string, string>;
  /** The address the app is served on: with auth off it must be loopback. */
  host: string;
  /**
   * With auth off, the one Host name besides loopback names that requests may
   * carry (e.g. a local reverse proxy's); others are refused with 421.
   */
  publicHost?: string;
  /** Browser origins allowed to call cross-origin (CORS); empty = CORS off. */
  corsOrigins: string[];
  /** Largest dataset upload, in bytes. */
  maxUploadBytes: number;
  /** Largest JSON request body, in bytes. */
  maxBodyBytes: number;
  /** Largest estimated memory of one job; larger jobs are refused (422). */
  maxJobBytes: number;
  /** Queued jobs a tenant may have before a submission answers 429; 0 = unlimited. */
  maxQueuedPerTenant: number;
  /** Attempts a new job gets before a lost lease fails it. */
  maxAttempts: number;
  /** Interval between SSE heartbeat comments. */
  sseHeartbeatMs: number;
  /** How often an SSE stream polls job_events. */
  ssePollMs: number;
  /**
   * Whether Postgres NOTIFY reaches this process. True for a real server;
   * false for the embedded PGlite, which never delivers notifications across
   * connections. When false, SSE streams do not LISTEN and only poll.
   */
  notifications: boolean;
  /**
   * Most milliseconds a request body may take to arrive and be read, counted
   * from the request's start; a body that takes longer gets 408. Responses,
   * SSE streams included, are not bounded by it.
   */
  requestTimeoutMs: number;
  /**
   * Bearer token of GET /metrics, apart from tenant keys; when set it is
   * required. Without one, /metrics answers 404 metrics_disabled while API
   * keys are on, and is open while auth is off.
   */
  metricsToken?: string;
  /** Which webhook URLs a job may name; default public https only. */
  webhookPolicy?: WebhookUrlPolicy;
  /**
   * HMAC key of stream tokens (`?token=` on a job's event stream). Unset: a
   * random key per process, so API processes behind one load balancer must
   * share one for a token from one to work on another.
   */
  streamTokenSecret?: string;
  /** Lifetime of a stream token, in seconds; default 300. */
  streamTokenTtlS?: number;
}

/** Options that would make the app unsafe to serve (auth off on a public address). */
export class RouteOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RouteOptionsError";
  }
}
