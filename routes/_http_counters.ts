/**
 * Per-process HTTP request counters for GET /metrics. Labels use the route
 * pattern (`/v1/jobs/:id`), never the raw path, so ids cannot blow up the
 * number of series.
 */
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";

/** Request counts keyed by method, route pattern and status. */
export class HttpCounters {
  #counts = new Map<string, number>();
  /** SSE streams open now; a stream that outlives its client would show here. */
  openStreams = 0;

  /** Counts one finished request. */
  add(method: string, route: string, status: number): void {
    const key = JSON.stringify([method, route, status]);
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  /** Every series, sorted for stable output. */
  entries(): {
    method: string;
    route: string;
    status: number;
    count: number;
  }[] {
    return [...this.#counts.entries()].sort(([a], [b]) => a < b ? -1 : 1).map(
      ([key, count]) => {
        const [method, route, status] = JSON.parse(key);
        return { method, route, status, count };
      },
    );
  }

  /** Middleware that counts each request once its response is known. */
  middleware(): MiddlewareHandler {
    return async (c, next) => {
      await next();
      // The last matched route is the handler. An unknown path matches only
      // middleware patterns ("*"), so scanners add one series, not thousands.
      const route = routePath(c, -1) || "unmatched";
      this.add(c.req.method, route, c.res.status);
    };
  }
}
