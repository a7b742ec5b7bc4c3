/**
 * The files GET /assets/{group}/{name} serves: vendor builds read from the
 * npm packages pinned in deno.json (never a CDN) and the pages' own scripts
 * in routes/_browser/. A fixed table, so that no request can name any other
 * file.
 */

/** One servable file. */
export interface AssetFile {
  url: URL;
  contentType: string;
  cacheControl: string;
}

const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

// Vendor files change only with the pinned version; ours with every edit.
const VENDOR_CACHE = "public, max-age=86400";
const OWN_CACHE = "no-cache";

/**
 * The file `specifier` names inside an npm package, under node_modules
 * (`deno install`, or any `deno run` of the service, puts it there), or
 * undefined if the import map cannot resolve it.
 */
function vendorFile(specifier: string, contentType: string) {
  try {
    const url = new URL(import.meta.resolve(specifier));
    return { url, contentType, cacheControl: VENDOR_CACHE };
  } catch {
    return undefined;
  }
}

function ownFile(name: string, contentType: string): AssetFile {
  return {
    url: new URL(`./_browser/${name}`, import.meta.url),
    contentType,
    cacheControl: OWN_CACHE,
  };
}

const VENDOR: Record<string, () => AssetFile | undefined> = {
  "uPlot.iife.min.js": () => vendorFile("uplot/dist/uPlot.iife.min.js", JS),
  "uPlot.min.css": () => vendorFile("uplot/dist/uPlot.min.css", CSS),
  "swagger-ui-bundle.js": () =>
    vendorFile("swagger-ui-dist/swagger-ui-bundle.js", JS),
  "swagger-ui.css": () => vendorFile("swagger-ui-dist/swagger-ui.css", CSS),
};

const OWN = new Set([
  "api_key.js",
  "fragments.js",
  "sse_reader.js",
  "job_charts.js",
  "job_tables.js",
  "jobs_page.js",
  "job_page.js",
  "docs_page.js",
  "dashboard.css",
  "docs.css",
]);

/** The file `/assets/{group}/{name}` serves, or undefined. */
export function findAsset(group: string, name: string): AssetFile | undefined {
  if (group === "vendor" && Object.hasOwn(VENDOR, name)) return VENDOR[name]();
  if (group === "app" && OWN.has(name)) {
    return ownFile(name, name.endsWith(".css") ? CSS : JS);
  }
  return undefined;
}
