/**
 * Bearer API keys mapped to tenants. Keys are compared as SHA-256 digests so
 * that the lookup time does not depend on how much of a guessed key is right.
 */
import type { MiddlewareHandler } from "hono";
import { ApiError } from "./problem.ts";
import type { AppEnv } from "./_router.ts";
import { sha256Hex } from "./_sha256.ts";

/** The one tenant of an instance that runs without API keys. */
export const DEFAULT_TENANT = "default";

function digest(key: string): Promise<string> {
  return sha256Hex(new TextEncoder().encode(key));
}

/**
 * Sets `tenant` from `Authorization: Bearer <key>`; without keys configured,
 * every request is the default tenant (createApp allows that on loopback only).
 * @throws {ApiError} `unauthorized` with a WWW-Authenticate challenge.
 */
export async function authMiddleware(
  apiKeys: Map<string, string> | undefined,
): Promise<MiddlewareHandler<AppEnv>> {
  if (!apiKeys) {
    return async (c, next) => {
      c.set("tenant", DEFAULT_TENANT);
      await next();
    };
  }
  const byDigest = new Map<string, string>();
  for (const [key, tenant] of apiKeys) byDigest.set(await digest(key), tenant);
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(header);
    const tenant = match ? byDigest.get(await digest(match[1])) : undefined;
    if (!tenant) {
      // RFC 6750: no error attribute when credentials were simply absent.
      const challenge = match
        ? 'Bearer realm="fngd", error="invalid_token"'
        : 'Bearer realm="fngd"';
      throw new ApiError(
        "unauthorized",
        match
          ? "the bearer API key is not valid"
          : "expected an Authorization: Bearer <API key> header",
        { headers: { "www-authenticate": challenge } },
      );
    }
    c.set("tenant", tenant);
    await next();
  };
}
