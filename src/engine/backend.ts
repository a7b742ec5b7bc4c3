/**
 * Backend selection. `wasm` is the default (its binaries ship in the npm
 * package); `tensorflow` needs libtensorflow and `webgpu` a WebGPU adapter, so
 * both are loaded only on demand.
 */
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { type BackendName } from "./backend_names.ts";
import { EngineError } from "./types.ts";

export { BACKEND_NAMES, type BackendName } from "./backend_names.ts";

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

/** Why this runtime has no usable WebGPU adapter, or undefined when it has one. */
export async function missingWebgpu(): Promise<string | undefined> {
  const hint = "on Debian, the Mesa drivers provide a software adapter " +
    "(llvmpipe): `apt-get install mesa-vulkan-drivers libvulkan1` for Vulkan " +
    "(or libegl1 libegl-mesa0 libgl1-mesa-dri for OpenGL ES)";
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) {
    return "this runtime has no WebGPU (navigator.gpu is undefined; Deno >= 2 " +
      "has it built in)";
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (err) {
    return `navigator.gpu.requestAdapter() failed (${
      (err as Error).message
    }); ${hint}`;
  }
  if (!adapter) {
    return `navigator.gpu.requestAdapter() found no adapter; ${hint}`;
  }
  return undefined;
}

async function loadWebgpuBackend(): Promise<void> {
  const missing = await missingWebgpu();
  if (missing) {
    throw new EngineError(
      "backend_unavailable",
      `the webgpu backend needs a WebGPU adapter: ${missing}; use --backend wasm otherwise`,
    );
  }
  // Registers `webgpu` as a side effect. Loaded here, not at the top, so that
  // other backends never pay for (or depend on) it. Its readSync (dataSync)
  // emulates a synchronous GPU read by drawing into a 2D OffscreenCanvas,
  // which Deno lacks (`clearRect` of null); no flag turns that off, so the
  // trainer reads with data() (WebGPU maps buffers only asynchronously).
  await import("@tensorflow/tfjs-backend-webgpu");
  if (!tf.findBackend("webgpu") && !tf.engine().registryFactory["webgpu"]) {
    throw new EngineError(
      "backend_unavailable",
      "@tensorflow/tfjs-backend-webgpu loaded but registered no backend",
    );
  }
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
  if (name === "webgpu" && !tf.engine().registryFactory["webgpu"]) {
    await loadWebgpuBackend();
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
