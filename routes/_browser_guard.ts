/**
 * What keeps a browser page from using the API on its visitor's behalf: a
 * Host check against DNS rebinding (auth off only), an Origin check against
 * cross-site form posts, CORS for the origins configured, and a bound on
 * JSON bodies' shape before validation walks them.
 */
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import type { RouteOptions } from "./options.ts";
import { ApiError } from "./problem.ts";

/** True for addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** A Host header: a name or bracketed IPv6 literal, then an optional port. */
const HOST_HEADER = /^(\[[0-9a-f:.]+\]|[^\s[\]:/@?#\\]+)(?::\d{1,5})?$/i;

/** The name part of a Host header, lower case, without a trailing dot. */
export function hostName(host: string): string | undefined {
  const m = HOST_HEADER.exec(host.trim());
  return m ? m[1].toLowerCase().replace(/\.$/, "") : undefined;
}

/**
 * With auth off, answers 421 to a Host that is neither a loopback name nor
 * PUBLIC_HOST: a page whose own name was rebound to 127.0.0.1 sends its own
 * name, and would otherwise read every response as same-origin.
 */
export function hostGuard(options: RouteOptions): MiddlewareHandler {
  return async (c, next) => {
    const header = c.req.header("host") ?? urlHost(c.req.url);
    const name = hostName(header);
    const allowed = name !== undefined &&
      (isLoopbackHost(name) || name.endsWith(".localhost") ||
        name === options.publicHost);
    if (!allowed) {
      throw new ApiError(
        "misdirected_request",
        `this server does not answer for Host "${header.slice(0, 100)}"; ` +
          "without API_KEYS it answers loopback names and PUBLIC_HOST only",
      );
    }
    await next();
  };
}

const UNSAFE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * The authority of a request URL, read as text: Deno.serve builds the URL
 * from the Host header, so it need not parse (`127.0.0.1:99999`, `[::1`).
 */
function urlHost(url: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(url)?.[1] ?? "";
}

/** The serialized origin of `text`, or undefined for "null" and garbage. */
function originOf(text: string): string | undefined {
  try {
    const origin = new URL(text).origin;
    return origin === "null" ? undefined : origin;
  } catch {
    return undefined;
  }
}

/**
 * Answers 403 to a state-changing request whose Origin is neither the
 * request's own nor in CORS_ORIGINS. Browsers send Origin on every such
 * request, and a cross-site form post needs no preflight; clients that
 * are not browsers send none and pass.
 */
export function originGuard(options: RouteOptions): MiddlewareHandler {
  const allowed = new Set(options.corsOrigins);
  return async (c, next) => {
    const origin = c.req.header("origin");
    if (origin !== undefined && UNSAFE_METHODS.has(c.req.method)) {
      const scheme = /^https:/i.test(c.req.url) ? "https:" : "http:";
      const own = originOf(
        `${scheme}//${c.req.header("host") ?? urlHost(c.req.url)}`,
      );
      const theirs = originOf(origin);
      if (theirs === undefined || (theirs !== own && !allowed.has(theirs))) {
        throw new ApiError(
          "forbidden_origin",
          `cross-origin ${c.req.method} from Origin "${
            origin.slice(0, 200)
          }" refused; list it in CORS_ORIGINS to allow it`,
        );
      }
    }
    await next();
  };
}

/** CORS for CORS_ORIGINS (preflight and response headers), or undefined when off. */
export function corsMiddleware(
  options: RouteOptions,
): MiddlewareHandler | undefined {
  if (options.corsOrigins.length === 0) return undefined;
  return cors({
    origin: options.corsOrigins,
    allowMethods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
    // Error bodies name Retry-After and the auth challenge; scripts need them.
    exposeHeaders: ["Retry-After", "WWW-Authenticate"],
    maxAge: 600,
  });
}

/** Bounds on a JSON body's shape; validation cost and error lists grow with them. */
export interface JsonShapeLimits {
  /** Most elements of one array or members of one object. */
  maxItems: number;
  /** Deepest nesting of arrays and objects. */
  maxDepth: number;
}

export const JSON_SHAPE_LIMITS: JsonShapeLimits = {
  maxItems: 10_000,
  maxDepth: 32,
};

/**
 * Why `value` exceeds `limits`, or undefined when it does not. Iterative, so
 * that the check itself cannot overflow the stack it protects.
 */
export function jsonShapeProblem(
  value: unknown,
  limits: JsonShapeLimits = JSON_SHAPE_LIMITS,
): string | undefined {
  const stack: { value: unknown; depth: number; path: string }[] = [
    { value, depth: 0, path: "" },
  ];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.value === null || typeof node.value !== "object") continue;
    const depth = node.depth + 1;
    const where = node.path || "(root)";
    if (depth > limits.maxDepth) {
      return `the JSON body nests deeper than ${limits.maxDepth} levels at ${where}`;
    }
    const entries = Array.isArray(node.value)
      ? node.value.map((v, i) => [String(i), v] as const)
      : Object.entries(node.value);
    if (entries.length > limits.maxItems) {
      const what = Array.isArray(node.value) ? "array" : "object";
      return `the JSON body's ${what} at ${where} has ${entries.length} entries; at most ${limits.maxItems} are accepted`;
    }
    for (const [key, child] of entries) {
      stack.push({
        value: child,
        depth,
        path: node.path ? `${node.path}.${key}` : key,
      });
    }
  }
  return undefined;
}

/**
 * Refuses (400 json_too_complex) JSON bodies that exceed JSON_SHAPE_LIMITS,
 * before zod sees them. Run after the body-size limit, so the parse is
 * bounded; a body that does not parse is left to the route's validator,
 * which reports it as before.
 */
export function jsonShapeGuard(
  limits: JsonShapeLimits = JSON_SHAPE_LIMITS,
): MiddlewareHandler {
  return async (c, next) => {
    if (
      UNSAFE_METHODS.has(c.req.method) &&
      /json/i.test(c.req.header("content-type") ?? "")
    ) {
      let body: unknown;
      let parsed = false;
      try {
        body = await c.req.json();
        parsed = true;
      } catch {
        // Malformed or over the size limit: the validator and bodyLimit say so.
      }
      const problem = parsed ? jsonShapeProblem(body, limits) : undefined;
      if (problem) throw new ApiError("json_too_complex", problem);
    }
    await next();
  };
}
