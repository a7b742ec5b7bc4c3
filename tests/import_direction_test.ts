/**
 * Imports point one way: entry points -> routes/ and workers/ -> db/ and
 * src/engine/; the CLI's helpers (src/cli/_*.ts) -> sdk/ and src/engine/.
 * The graph is the one Deno resolves (`deno info --json`) from every entry
 * point, type-only imports included, so a re-export or a dynamic import
 * cannot hide an edge.
 */
import assert from "node:assert/strict";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** The process mains; nothing may import them (spawning one by path is fine). */
const ENTRY_POINTS = [
  "src/main.ts",
  "src/api_main.ts",
  "src/serve.ts",
  "src/openapi_gen.ts",
  "src/kernels_gen.ts",
  "src/worker_main.ts",
  "src/supervisor_main.ts",
  // src/cli/_*.ts are the CLIs' helpers, not programs.
  ...[...Deno.readDirSync(`${ROOT}src/cli`)]
    .filter((e) =>
      e.isFile && e.name.endsWith(".ts") && !e.name.startsWith("_")
    )
    .map((e) => `src/cli/${e.name}`),
];

type Layer =
  | "entry"
  | "src"
  | "cli"
  | "sdk"
  | "engine"
  | "routes"
  | "workers"
  | "db"
  | "other";

function layerOf(path: string): Layer {
  if (ENTRY_POINTS.includes(path)) return "entry";
  if (path.startsWith("src/engine/")) return "engine";
  if (path.startsWith("src/cli/")) return "cli";
  for (const dir of ["src", "sdk", "routes", "workers", "db"] as const) {
    if (path.startsWith(`${dir}/`)) return dir;
  }
  return "other";
}

/**
 * What each layer may import besides itself. Entry points and the leaf
 * libraries beside them in src/ (config, embedded db, app wiring) may import
 * every layer but an entry point. The CLI helpers are a client of the
 * service: the SDK and the engine, nothing of the server. The SDK is
 * published on its own, so it imports nothing of ours.
 */
const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
  entry: ["src", "cli", "sdk", "engine", "routes", "workers", "db"],
  src: ["src", "engine", "routes", "workers", "db"],
  cli: ["cli", "sdk", "engine"],
  sdk: ["sdk"],
  routes: ["routes", "db", "engine"],
  workers: ["workers", "db", "engine"],
  db: ["db"],
  engine: ["engine"],
  other: [],
};

interface DenoInfo {
  modules: {
    specifier: string;
    dependencies?: {
      code?: { specifier: string };
      type?: { specifier: string };
    }[];
  }[];
}

/** Every edge between local modules reachable from `entry`, as repo paths. */
async function localEdges(entry: string): Promise<[string, string][]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `deno info ${entry} failed:\n${stderr}`);
  const info: DenoInfo = JSON.parse(new TextDecoder().decode(out.stdout));
  const local = (specifier: string) =>
    specifier.startsWith("file:")
      ? relative(ROOT, fileURLToPath(specifier))
      : undefined;
  const edges: [string, string][] = [];
  for (const module of info.modules) {
    const from = local(module.specifier);
    if (!from) continue;
    for (const dep of module.dependencies ?? []) {
      for (const target of [dep.code?.specifier, dep.type?.specifier]) {
        const to = target && local(target);
        if (to) edges.push([from, to]);
      }
    }
  }
  return edges;
}

/** Why `from -> to` points the wrong way, or undefined when it does not. */
function violation(from: string, to: string): string | undefined {
  const a = layerOf(from), b = layerOf(to);
  if (b === "entry") return "nothing may import an entry point";
  if (a === "other" || b === "other") {
    return "the service's graph must stay within src/, sdk/, routes/, workers/ and db/";
  }
  if (!MAY_IMPORT[a].includes(b)) {
    return `${a} may import only ${MAY_IMPORT[a].join(", ")}`;
  }
  return undefined;
}

Deno.test("imports point one way: entry points -> routes, workers -> db, src/engine", async () => {
  assert.ok(ENTRY_POINTS.includes("src/cli/train.ts"), "src/cli/ was read");
  const offending = new Set<string>();
  let edges = 0;
  for (const entry of ENTRY_POINTS) {
    for (const [from, to] of await localEdges(entry)) {
      edges++;
      const why = violation(from, to);
      if (why) offending.add(`${from} -> ${to} (${why})`);
    }
  }
  assert.ok(edges > 100, `only ${edges} local import edges found`);
  for (const line of offending) console.error(`wrong-way import: ${line}`);
  assert.deepEqual(
    [...offending].sort(),
    [],
    "imports that point the wrong way",
  );
});

Deno.test("the fngd CLI imports only src/cli/, sdk/ and src/engine/, so it compiles alone", async () => {
  const outside = new Set<string>();
  const edges = await localEdges("src/cli/fngd.ts");
  assert.ok(edges.some(([, to]) => to === "sdk/mod.ts"), "it uses the SDK");
  for (const [from, to] of edges) {
    if (!["entry", "cli", "sdk", "engine"].includes(layerOf(to))) {
      outside.add(`${from} -> ${to}`);
    }
  }
  assert.deepEqual([...outside], []);
});
