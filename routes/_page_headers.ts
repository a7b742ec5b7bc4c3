/**
 * Headers of every HTML page (the dashboard, the reference): scripts, styles
 * and requests from our own origin only, no framing (the job page has a
 * cancel button), no referrer leaving with job ids in it.
 */
import type { Context } from "hono";

/** The pages' Content-Security-Policy. */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  // uPlot draws on canvas; swagger-ui's CSS inlines its icons as data: URIs.
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Sets the page headers on `c`'s response, before it is built. */
export function setPageHeaders(c: Context): void {
  c.header("content-security-policy", PAGE_CSP);
  c.header("x-content-type-options", "nosniff");
  c.header("x-frame-options", "DENY");
  c.header("referrer-policy", "no-referrer");
  // Job data is per tenant and changes by the second.
  c.header("cache-control", "no-store");
}
