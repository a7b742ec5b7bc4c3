/**
 * Bearer API keys mapped to tenants. Keys are compared as SHA-256 digests so
 * that the lookup time does not depend on how much of a guessed key is right.
 */
import type { MiddlewareHandler } from "hono";
import { ApiError } from "./problem.ts";
import type { AppEnv } from "./_router.ts";
import { sha256Hex } from "./_sha256.ts";
import {
  STREAM_TOKEN_PARAM,
  streamTokenJobId,
  type StreamTokens,
} from "./_stream_token.ts";

/** The one tenant of an instance that runs without API keys. */
export const DEFAULT_TENANT = "default";

/** A key's SHA-256, hex: what keys are compared as. */
export function digest(key: string): Promise<string> {
  return sha256Hex(new TextEncoder().encode(key));
}

/** The token of an `Authorization: Bearer <token>` header, if it is one. */
export function bearerToken(header: string | undefined): string | undefined {
  return /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(header ?? "")?.[1];
}

/**
 * Sets `tenant` from `Authorization: Bearer <key>`; without keys configured,
 * every request is the default tenant (createApp allows that on loopback only).
 * Without an Authorization header, a `?token=` from `streamTokens` stands in
 * for a key on its own job's event stream and nowhere else.
 * @throws {ApiError} `unauthorized` with a WWW-Authenticate challenge.
 */
export async function authMiddleware(
  apiKeys: Map<string, string> | undefined,
  streamTokens?: StreamTokens,
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
    const header = c.req.header("authorization");
    const token = c.req.query(STREAM_TOKEN_PARAM);
    if (header === undefined && token !== undefined && streamTokens) {
      const jobId = streamTokenJobId(c.req.method, c.req.url);
      const tenant = jobId !== undefined
        ? await streamTokens.verify(token, jobId)
        : undefined;
      if (!tenant) {
        throw new ApiError(
          "unauthorized",
          jobId === undefined
            ? "a stream token authorizes only GET /v1/jobs/{id}/events/stream of its job; send an Authorization: Bearer <API key> header"
            : "the stream token is invalid, expired, or for another job",
          {
            headers: {
              "www-authenticate": 'Bearer realm="fngd", error="invalid_token"',
            },
          },
        );
      }
      c.set("tenant", tenant);
      return await next();
    }
    const key = bearerToken(header);
    const tenant = key !== undefined
      ? byDigest.get(await digest(key))
      : undefined;
    if (!tenant) {
      // RFC 6750: no error attribute when credentials were simply absent.
      const challenge = key !== undefined
        ? 'Bearer realm="fngd", error="invalid_token"'
        : 'Bearer realm="fngd"';
      throw new ApiError(
        "unauthorized",
        key !== undefined
          ? "the bearer API key is not valid"
          : "expected an Authorization: Bearer <API key> header",
        { headers: { "www-authenticate": challenge } },
      );
    }
    c.set("tenant", tenant);
    await next();
  };
}
