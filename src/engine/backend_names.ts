/**
 * The names of the TF.js backends the engine can run on. Apart from
 * backend.ts, so that reading them (to validate a config) loads no TF.js.
 */
export const BACKEND_NAMES = ["wasm", "cpu", "tensorflow", "webgpu"] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];
