/**
 * GET /assets/{group}/{name}: the dashboard's and the reference page's
 * scripts and styles, streamed from disk (routes/_asset_files.ts says which).
 * Outside the OpenAPI document: these are the pages' parts, not the API.
 */
import { Hono } from "hono";
import { findAsset } from "./_asset_files.ts";
import { ApiError } from "./problem.ts";
import type { AppEnv } from "./_router.ts";

/** A validator that changes whenever the file does. */
function etagOf(info: Deno.FileInfo): string {
  return `W/"${info.size.toString(36)}-${
    (info.mtime?.getTime() ?? 0).toString(36)
  }"`;
}

/** The asset routes. */
export function assetRoutes() {
  return new Hono<AppEnv>().get("/assets/:group/:name", async (c) => {
    const { group, name } = c.req.param();
    const asset = findAsset(group, name);
    if (!asset) {
      throw new ApiError("not_found", `no asset ${group}/${name}`);
    }
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(asset.url);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
      throw new ApiError(
        "not_found",
        `asset ${group}/${name} is not installed here; run \`deno install\``,
      );
    }
    const etag = etagOf(info);
    const headers = {
      "content-type": asset.contentType,
      "cache-control": asset.cacheControl,
      "x-content-type-options": "nosniff",
      etag,
    };
    if (c.req.header("if-none-match") === etag) {
      return c.body(null, 304, headers);
    }
    // Hono answers HEAD from this GET handler and drops the body: opening
    // the file then would leave it open.
    if (c.req.raw.method === "HEAD") {
      return c.body(null, 200, {
        ...headers,
        "content-length": String(info.size),
      });
    }
    const file = await Deno.open(asset.url);
    return c.body(file.readable, 200, {
      ...headers,
      "content-length": String(info.size),
    });
  });
}
