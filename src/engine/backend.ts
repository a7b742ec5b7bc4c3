/**
 * Backend selection. `wasm` is the default (its binaries ship in the npm
 * package); `tensorflow` needs libtensorflow, so it is loaded only on demand.
 */
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { EngineError } from "./types.ts";

/** Backends the engine can run on. */
export const BACKEND_NAMES = ["wasm", "cpu", "tensorflow"] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

// Bare specifiers resolve only when the user added the package to deno.json
// (`deno add --allow-scripts npm:@tensorflow/tfjs-node-gpu@4.22.0`), so a
// machine without it fails fast instead of downloading it half-installed.
export const TENSORFLOW_PACKAGES = [
  "@tensorflow/tfjs-node-gpu",
  "@tensorflow/tfjs-node",
];

async function loadTensorflowBackend(): Promise<void> {
  const failures: string[] = [];
  for (const specifier of TENSORFLOW_PACKAGES) {
    try {
      await import(specifier);
      if (tf.findBackend("tensorflow")) return;
      failures.push(`${specifier}: loaded but registered no backend`);
    } catch (err) {
      failures.push(`${specifier}: ${(err as Error).message.split("\n")[0]}`);
    }
  }
  throw new EngineError(
    "backend_unavailable",
    "the tensorflow backend needs @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node " +
      "with libtensorflow: on a machine that can download libtensorflow, run " +
      "`deno add --allow-scripts npm:@tensorflow/tfjs-node-gpu@4.22.0` (or tfjs-node for CPU); " +
      "use --backend wasm otherwise. Tried: " +
      failures.join("; "),
  );
}

/** Folder holding the wasm binaries, resolved from the package itself so any cwd works. */
function wasmDirectory(): string {
  let entry: string;
  try {
    entry = import.meta.resolve("@tensorflow/tfjs-backend-wasm");
  } catch {
    // A bundled build (`deno bundle`) has no node_modules to resolve from.
    throw new EngineError(
      "backend_unavailable",
      "the wasm backend cannot find its .wasm binaries: no @tensorflow/tfjs-backend-wasm " +
        "package is installed here; pass the folder holding tfjs-backend-wasm*.wasm (wasmDir)",
    );
  }
  const url = new URL("./", entry);
  return url.protocol === "file:" ? decodeURIComponent(url.pathname) : url.href;
}

export interface InitBackendOptions {
  /** Folder of the tfjs-backend-wasm binaries, for builds without node_modules. */
  wasmDir?: string;
}

/**
 * Makes `name` the active TF.js backend.
 * @throws {EngineError} `backend_unavailable` when it cannot be initialised.
 */
export async function initBackend(
  name: BackendName = "wasm",
  opts: InitBackendOptions = {},
): Promise<void> {
  if (tf.getBackend() === name) return;
  if (name === "tensorflow" && !tf.findBackend("tensorflow")) {
    await loadTensorflowBackend();
  }
  if (name === "wasm") {
    const dir = opts.wasmDir ?? wasmDirectory();
    setWasmPaths(dir.endsWith("/") ? dir : `${dir}/`);
  }
  const ok = await tf.setBackend(name);
  if (!ok) {
    throw new EngineError(
      "backend_unavailable",
      `TF.js backend '${name}' failed to initialise`,
    );
  }
  await tf.ready();
}
