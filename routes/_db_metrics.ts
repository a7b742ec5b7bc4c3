/**
 * The series GET /metrics reads from the database at each scrape: jobs by
 * status, the queue's depth and oldest wait, how long jobs waited to be
 * claimed, and training steps per second by optimizer. Workers run in other
 * processes, so the rows they write are the one record of their work that
 * every API process can read alike.
 */
import { Gauge, type Metric, type Registry } from "prom-client";
import {
  claimLatencyHistogram,
  countJobsByStatus,
  type Db,
  JOB_STATUSES,
  queueDepth,
  trainingThroughput,
} from "../db/mod.ts";

/** Upper bounds of the claim-latency buckets: a busy queue waits hours. */
export const CLAIM_LATENCY_BUCKETS = [
  0.1,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  300,
  900,
  3600,
  14400,
] as const;

/** Finished epochs per optimizer and phase that the throughput gauge covers. */
export const THROUGHPUT_EPOCHS = 20;

/**
 * A histogram whose cumulative counts come whole from the database at each
 * scrape. prom-client's Histogram only accumulates observations made in this
 * process; this one reports what the rows say, in the same exposition shape
 * (`_bucket{le}`, `_sum`, `_count`), through what the registry reads of a
 * metric (`name`, `help`, `type`, `get()`); hence the cast where it is
 * registered.
 */
class DbClaimLatencyHistogram {
  readonly name = "fngd_job_claim_latency_seconds";
  readonly help =
    "Seconds from a job's creation to its first claim by a worker, over every job claimed so far (from the jobs table).";
  readonly type = "histogram" as const;
  readonly aggregator = "first" as const;

  constructor(private readonly db: Db) {}

  async get() {
    const h = await claimLatencyHistogram(this.db, CLAIM_LATENCY_BUCKETS);
    const bucket = `${this.name}_bucket`;
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: [
        ...CLAIM_LATENCY_BUCKETS.map((le, i) => ({
          metricName: bucket,
          labels: { le },
          value: h.counts[i],
        })),
        { metricName: bucket, labels: { le: "+Inf" }, value: h.count },
        { metricName: `${this.name}_sum`, labels: {}, value: h.sum },
        { metricName: `${this.name}_count`, labels: {}, value: h.count },
      ],
    };
  }
}

/** Registers the database-backed series of `db` in `registry`. */
export function registerDbMetrics(registry: Registry, db: Db): void {
  const registers = [registry];
  new Gauge({
    name: "fngd_jobs",
    help: "Jobs by status, all tenants.",
    labelNames: ["status"],
    registers,
    async collect() {
      const counts = await countJobsByStatus(db);
      for (const status of JOB_STATUSES) {
        this.set({ status }, counts[status] ?? 0);
      }
    },
  });
  // Each reads the (indexed) queue on its own: a collect that also set the
  // other gauge could run after that gauge was already rendered.
  new Gauge({
    name: "fngd_queue_depth",
    help: "Jobs queued for a worker now, all tenants.",
    registers,
    async collect() {
      this.set((await queueDepth(db)).queued);
    },
  });
  new Gauge({
    name: "fngd_queue_oldest_wait_seconds",
    help:
      "Seconds the oldest queued job has waited; 0 when the queue is empty.",
    registers,
    async collect() {
      this.set((await queueDepth(db)).oldestSeconds);
    },
  });
  new Gauge({
    name: "fngd_training_steps_per_second",
    help:
      `Training steps per second (evaluation excluded) over the latest ${THROUGHPUT_EPOCHS} finished epochs of each optimizer and phase, all jobs.`,
    labelNames: ["optimizer", "phase"],
    registers,
    async collect() {
      const rows = await trainingThroughput(db, THROUGHPUT_EPOCHS);
      // An optimizer with no epochs any more has no series, not a stale one.
      this.reset();
      for (const r of rows) {
        this.set(
          { optimizer: r.optimizer, phase: r.phase },
          r.stepsPerSecond,
        );
      }
    },
  });
  registry.registerMetric(
    new DbClaimLatencyHistogram(db) as unknown as Metric,
  );
}
