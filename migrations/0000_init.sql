CREATE TYPE "public"."dataset_format" AS ENUM('idx', 'csv');--> statement-breakpoint
CREATE TYPE "public"."job_status" AS ENUM('queued', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled');--> statement-breakpoint
CREATE TABLE "checkpoints" (
	"job_id" uuid NOT NULL,
	"epoch" integer NOT NULL,
	"weights" "bytea" NOT NULL,
	"optimizer_state" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "checkpoints_job_id_epoch_pk" PRIMARY KEY("job_id","epoch")
);
--> statement-breakpoint
CREATE TABLE "datasets" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant" text NOT NULL,
	"name" text NOT NULL,
	"format" "dataset_format" NOT NULL,
	"shape" jsonb NOT NULL,
	"bytes" integer NOT NULL,
	"sha256" text NOT NULL,
	"content" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "epoch_metrics" (
	"job_id" uuid NOT NULL,
	"epoch" integer NOT NULL,
	"phase" text NOT NULL,
	"train_loss" double precision NOT NULL,
	"val_loss" double precision,
	"val_accuracy" double precision,
	"seconds" double precision NOT NULL,
	"steps" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "epoch_metrics_job_id_epoch_pk" PRIMARY KEY("job_id","epoch")
);
--> statement-breakpoint
CREATE TABLE "fngd_coefficients" (
	"job_id" uuid NOT NULL,
	"batch_index" integer NOT NULL,
	"layer_index" integer NOT NULL,
	"coefficients" "bytea" NOT NULL,
	"damping" double precision NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "fngd_coefficients_job_id_batch_index_layer_index_pk" PRIMARY KEY("job_id","batch_index","layer_index")
);
--> statement-breakpoint
CREATE TABLE "job_events" (
	"job_id" uuid NOT NULL,
	"seq" integer NOT NULL,
	"type" text NOT NULL,
	"data" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "job_events_job_id_seq_pk" PRIMARY KEY("job_id","seq")
);
--> statement-breakpoint
CREATE TABLE "jobs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant" text NOT NULL,
	"status" "job_status" DEFAULT 'queued' NOT NULL,
	"spec" jsonb NOT NULL,
	"idempotency_key" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"max_attempts" integer DEFAULT 3 NOT NULL,
	"locked_by" text,
	"lease_until" timestamp with time zone,
	"heartbeat_at" timestamp with time zone,
	"cancel_requested_at" timestamp with time zone,
	"progress" jsonb,
	"error" jsonb,
	"result" jsonb,
	"last_event_seq" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "checkpoints" ADD CONSTRAINT "checkpoints_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "epoch_metrics" ADD CONSTRAINT "epoch_metrics_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "fngd_coefficients" ADD CONSTRAINT "fngd_coefficients_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "job_events" ADD CONSTRAINT "job_events_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "datasets_tenant_created_idx" ON "datasets" USING btree ("tenant","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "jobs_tenant_idempotency_key_idx" ON "jobs" USING btree ("tenant","idempotency_key");--> statement-breakpoint
CREATE INDEX "jobs_tenant_created_idx" ON "jobs" USING btree ("tenant","created_at","id");--> statement-breakpoint
-- jobs_claimable_idx serves claimNextJob (db/claim_next_job.ts): it scans live
-- jobs oldest first under FOR UPDATE SKIP LOCKED. Terminal jobs never qualify and
-- pile up forever, so leaving them out keeps this index, and the claim scan, as
-- small as the live queue however long the history grows.
CREATE INDEX "jobs_claimable_idx" ON "jobs" USING btree ("created_at") WHERE "jobs"."status" in ('queued', 'running', 'cancelling');