/**
 * Test harness for the HTTP API: a private database, the app served with
 * Deno.serve on a free port, and fetch helpers that speak as one tenant.
 */
import { FileBlobStore, waitAtMost } from "../db/mod.ts";
import { createApp, type RouteOptions } from "../routes/mod.ts";
import { loadConfig } from "../src/config.ts";
import { routeOptions } from "../src/route_options.ts";
import { createTestDb, type TestDb } from "./_db.ts";

/**
 * A blob store for apps whose requests never reach one: nothing is written,
 * so its directory is never created.
 */
export const NO_BLOBS = new FileBlobStore("/nonexistent/fngd-test-blobs");

/** Keys of the two tenants every API test has. */
export const KEY_A = "key-alice-0123456789";
export const KEY_B = "key-bob-9876543210";
/** The METRICS_TOKEN of every test API: GET /metrics takes it, not a tenant key. */
export const METRICS_TOKEN = "metrics-token-0123456789abcdef";

/** A running API over a fresh database. */
export interface ApiHarness {
  base: string;
  tdb: TestDb;
  options: RouteOptions;
  /** fetch(base + path) as tenant alice, unless `key` says otherwise (null: no key). */
  call(
    path: string,
    init?: RequestInit & { key?: string | null },
  ): Promise<Response>;
  /** Rows in `table`, all tenants. */
  count(
    table: "jobs" | "job_events" | "datasets" | "comparisons",
  ): Promise<number>;
  close(): Promise<void>;
}

/** Starts the API; `env` overrides the test defaults (short SSE timings, small limits). */
export async function startApi(
  env: Record<string, string> = {},
): Promise<ApiHarness> {
  const tdb = await createTestDb();
  const config = loadConfig({
    API_KEYS: `${KEY_A}:alice,${KEY_B}:bob`,
    PORT: "0",
    SSE_POLL_MS: "20",
    SSE_HEARTBEAT_MS: "150",
    MAX_BODY_BYTES: "16KiB",
    MAX_UPLOAD_BYTES: "256KiB",
    METRICS_TOKEN,
    ...env,
  });
  // LISTEN wake-ups only where NOTIFY can arrive, as `deno task start` does:
  // embedded PGlite never delivers it.
  const options = routeOptions(config, { notifications: !tdb.embedded });
  const app = await createApp({
    db: tdb.db,
    blobs: tdb.blobs,
    options,
    log: () => {},
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    app.fetch,
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  return {
    base,
    tdb,
    options,
    call(path, init = {}) {
      const { key = KEY_A, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (key !== null) headers.set("authorization", `Bearer ${key}`);
      return fetch(base + path, { ...rest, headers });
    },
    async count(table) {
      // Table names come from the literal union above, never from input.
      const rows = await tdb.db.sql.unsafe(
        `select count(*)::int as n from ${table}`,
      );
      return rows[0].n as number;
    },
    async close() {
      // shutdown() waits for open responses; a failed SSE test may leave one
      // open, and the failure should be reported, not turned into a hang.
      await waitAtMost(server.shutdown(), 3000);
      await tdb.close();
    },
  };
}

/** A small valid job body on synthetic data. */
export function syntheticJob(overrides: Record<string, unknown> = {}) {
  return {
    model: {
      input_shape: [8],
      layers: [{ type: "dense", units: 4, activation: "relu" }, {
        type: "dense",
        units: 3,
      }],
    },
    dataset: { name: "synthetic", samples: 64, features: 8, classes: 3 },
    optimizer: { name: "fngd", lr: 0.1 },
    epochs: 1,
    batch_size: 16,
    ...overrides,
  };
}

/** POST /v1/jobs as JSON. */
export function postJob(
  api: ApiHarness,
  body: unknown,
  init: RequestInit & { key?: string | null } = {},
): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("content-type", "application/json");
  return api.call("/v1/jobs", {
    ...init,
    method: "POST",
    headers,
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}
