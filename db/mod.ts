/**
 * The database layer: schema, client, migrations and every query. Each query
 * is a function taking the db handle (or a transaction) first.
 */
export {
  closeDb,
  createDb,
  type CreateDbOptions,
  type Db,
  type Queryable,
} from "./client.ts";
export { checkReady, migrateDb } from "./migrate.ts";
export {
  isTerminalStatus,
  JOB_STATUSES,
  type JobStatus,
  LEASED_STATUSES,
  TERMINAL_STATUSES,
  type TerminalStatus,
} from "./job_status.ts";
export { DATASET_FORMATS, type DatasetFormat } from "./dataset_format.ts";
export * from "./schema.ts";
export { JOB_EVENTS_CHANNEL, JOBS_CHANNEL, listen, notify } from "./notify.ts";
export { createJob, type NewJob } from "./create_job.ts";
export { getJob } from "./get_job.ts";
export { isUuid } from "./_uuid.ts";
export { isConnectionError } from "./connection_errors.ts";
export { sleep, waitAtMost } from "./wait.ts";
export { PollTimer } from "./poll_timer.ts";
export {
  DatabaseUnavailableError,
  DbCircuitBreaker,
} from "./circuit_breaker.ts";
export { countJobsByStatus } from "./count_jobs_by_status.ts";
export { countQueuedJobs } from "./count_queued_jobs.ts";
export { getJobByIdempotencyKey } from "./get_job_by_idempotency_key.ts";
export { listJobs, type ListJobsOptions } from "./list_jobs.ts";
export { requestCancel } from "./request_cancel.ts";
export {
  appendJobEvent,
  appendLeasedEvent,
  type LeasedEvent,
} from "./append_job_event.ts";
export type { JobLease } from "./_lease.ts";
export { listJobEvents } from "./list_job_events.ts";
export {
  getLatestEpochMetric,
  listEpochMetrics,
  type NewEpochMetric,
  recordEpochMetric,
} from "./epoch_metrics.ts";
export {
  type CoefficientEntry,
  type CoefficientEpochHistory,
  type CoefficientInput,
  coefficientKey,
  getCoefficientVector,
  type LatestCoefficients,
  listCoefficientHistory,
  listLatestCoefficients,
  loadCoefficients,
  putCoefficients,
} from "./coefficients.ts";
export {
  type CheckpointExtras,
  type CheckpointPayload,
  type CheckpointSummary,
  getCheckpoint,
  getLatestCheckpoint,
  listCheckpoints,
  loadLatestCheckpoint,
  saveCheckpoint,
} from "./checkpoints.ts";
export {
  createDataset,
  type DatasetSummary,
  getDataset,
  listDatasets,
  type NewDataset,
  openDatasetContent,
  readDatasetContent,
} from "./datasets.ts";
export { claimNextJob, type ClaimOptions } from "./claim_next_job.ts";
export { reapExpiredJobs } from "./reap_expired_jobs.ts";
export { heartbeatJob, updateJobProgress } from "./heartbeat_job.ts";
export {
  completeJob,
  failJob,
  markCancelled,
  releaseJob,
} from "./finish_job.ts";
export {
  getJobModel,
  openJobModelWeights,
  saveJobModel,
} from "./job_models.ts";
export {
  assertSha256,
  BlobNotFoundError,
  type BlobRef,
  type BlobStore,
  bytesStream,
  readBlob,
  type StagedBlob,
} from "./blob_store.ts";
export { FileBlobStore } from "./file_blob_store.ts";
export {
  blobRefs,
  collectBlobs,
  commitBlobs,
  pinBlobs,
  releaseRefs,
  sweepBlobs,
} from "./blob_refs.ts";
export {
  COMPARISON_METRIC_NAMES,
  COMPARISON_METRICS,
  type ComparisonMetric,
} from "./comparison_metrics.ts";
export { createComparison, type NewComparison } from "./create_comparison.ts";
export { getComparison } from "./get_comparison.ts";
export { getComparisonByIdempotencyKey } from "./get_comparison_by_idempotency_key.ts";
export { listComparisonJobs } from "./list_comparison_jobs.ts";
export { listComparisonEpochMetrics } from "./list_comparison_epoch_metrics.ts";
export {
  type JobCursor,
  listComparisonEvents,
} from "./list_comparison_events.ts";
export { type QueueDepth, queueDepth } from "./queue_depth.ts";
export { claimLatencyHistogram, type WaitHistogram } from "./claim_latency.ts";
export { type Throughput, trainingThroughput } from "./training_throughput.ts";
export {
  claimDueDeliveries,
  type ClaimedDelivery,
  DEFAULT_WEBHOOK_EVENTS,
  type DeliveryResult,
  listWebhookDeliveries,
  settleDelivery,
  WEBHOOK_EVENTS,
  type WebhookEvent,
} from "./webhook_deliveries.ts";
export {
  type CheckedWebhookUrl,
  checkWebhookUrl,
  type Cidr,
  isLocalhostName,
  isLoopbackIp,
  parseCidr,
  parseIp,
  refusedAddress,
  STRICT_WEBHOOK_POLICY,
  type WebhookUrlPolicy,
} from "./webhook_url.ts";
