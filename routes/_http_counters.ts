/**
 * Per-app HTTP metrics for GET /metrics, in a prom-client Registry of the
 * app's own (not prom-client's global one), so that several apps in one
 * process (the tests) never share or clash over series. Labels use the route
 * pattern (`/v1/jobs/:id`), never the raw path, and methods outside the
 * standard ones are folded into `OTHER`, so neither ids nor a client's
 * invented methods can blow up the number of series.
 */
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** Methods reported as themselves; any other is `OTHER`. */
const METHODS = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
]);

/** Request counts and latencies keyed by method, route pattern and status. */
export class HttpCounters {
  /** Every series of this app; GET /metrics renders it. */
  readonly registry = new Registry();
  /** SSE streams open now; a stream that outlives its client would show here. */
  openStreams = 0;
  readonly #requests: Counter<"method" | "route" | "status">;
  readonly #duration: Histogram<"method" | "route" | "status">;

  constructor() {
    const registers = [this.registry];
    this.#requests = new Counter({
      name: "fngd_http_requests_total",
      help: "HTTP requests served by this process.",
      labelNames: ["method", "route", "status"],
      registers,
    });
    this.#duration = new Histogram({
      name: "fngd_http_request_duration_seconds",
      help:
        "Time from a request's arrival to its response headers (an SSE stream counts until it starts), by route pattern.",
      labelNames: ["method", "route", "status"],
      registers,
    });
    // deno-lint-ignore no-this-alias
    const self = this;
    new Gauge({
      name: "fngd_sse_streams_open",
      help: "SSE event streams open now.",
      registers,
      collect() {
        this.set(self.openStreams);
      },
    });
  }

  /** Counts one finished request that took `seconds`. */
  add(method: string, route: string, status: number, seconds = 0): void {
    const labels = {
      method: METHODS.has(method) ? method : "OTHER",
      route,
      status: String(status),
    };
    this.#requests.inc(labels);
    this.#duration.observe(labels, seconds);
  }

  /** Middleware that counts and times each request once its response is known. */
  middleware(): MiddlewareHandler {
    return async (c, next) => {
      const start = performance.now();
      await next();
      // The last matched route is the handler. An unknown path matches only
      // middleware patterns ("*"), so scanners add one series, not thousands.
      const route = routePath(c, -1) || "unmatched";
      this.add(
        c.req.method,
        route,
        c.res.status,
        (performance.now() - start) / 1000,
      );
    };
  }
}
