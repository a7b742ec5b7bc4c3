/** Public surface of the training engine. */
export * from "./spec.ts";
export * from "./types.ts";
export { train, type TrainOptions } from "./trainer.ts";
export { BACKEND_NAMES, type BackendName, initBackend } from "./backend.ts";
export { MemoryCoefficientStore } from "./coefficient_store.ts";
export { decodeCheckpoint, encodeCheckpoint } from "./checkpoint.ts";
export { exportModel, type ModelArtifacts } from "./export.ts";
