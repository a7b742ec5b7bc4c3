/** Public surface of the training engine. */
export * from "./spec.ts";
export * from "./types.ts";
export { train, type TrainOptions } from "./trainer.ts";
export { BACKEND_NAMES, type BackendName, initBackend } from "./backend.ts";
export { MemoryCoefficientStore } from "./coefficient_store.ts";
export { decodeCheckpoint, encodeCheckpoint } from "./checkpoint.ts";
export { exportModel, type ModelArtifacts } from "./export.ts";
export {
  ENGINE_MODEL_FORMAT,
  exportEngineModel,
  type LoadedTranslator,
  loadEngineModel,
  loadEngineTranslator,
} from "./engine_format.ts";
export {
  assessJob,
  type Assessment,
  checkJobFits,
  type DatasetInfo,
  datasetInfoFromSpec,
  datasetInfoOf,
  JobTooLargeError,
  NAMED_DATASETS,
  type UploadedDatasetFacts,
  uploadedDatasetInfo,
} from "./admission.ts";
export {
  estimateJobCost,
  type FlopEstimate,
  type JobCostEstimate,
  type MemoryEstimate,
} from "./cost.ts";
export {
  formatSpecPath,
  inferModelShapes,
  type ModelShapes,
  type PlannedLayer,
  type PlannedSite,
} from "./shapes.ts";
export { formatBytes } from "./units.ts";
export {
  BLEU_MAX_ORDER,
  type BleuScore,
  bleuTokens,
  corpusBleu,
  corpusBleuOfTexts,
} from "./bleu.ts";
export { greedyDecode, translate } from "./translate.ts";
export { Tokenizer } from "./data/tokenizer.ts";
