CREATE TABLE "blobs" (
	"sha256" text PRIMARY KEY NOT NULL,
	"size" bigint NOT NULL,
	"refs" integer DEFAULT 0 NOT NULL,
	"deleting_since" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "blobs_refs_check" CHECK ("blobs"."refs" >= 0)
);
--> statement-breakpoint
ALTER TABLE "checkpoints" ALTER COLUMN "weights" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "checkpoints" ALTER COLUMN "optimizer_state" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "datasets" ALTER COLUMN "content" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "job_models" ALTER COLUMN "weight_data" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "checkpoints" ADD COLUMN "weights_sha256" text;--> statement-breakpoint
ALTER TABLE "checkpoints" ADD COLUMN "weights_size" bigint;--> statement-breakpoint
ALTER TABLE "checkpoints" ADD COLUMN "optimizer_sha256" text;--> statement-breakpoint
ALTER TABLE "checkpoints" ADD COLUMN "optimizer_size" bigint;--> statement-breakpoint
ALTER TABLE "datasets" ADD COLUMN "blob_sha256" text;--> statement-breakpoint
ALTER TABLE "job_models" ADD COLUMN "weights_sha256" text;--> statement-breakpoint
ALTER TABLE "job_models" ADD COLUMN "weights_size" bigint;--> statement-breakpoint
ALTER TABLE "checkpoints" ADD CONSTRAINT "checkpoints_payload_check" CHECK (("checkpoints"."weights_sha256" is not null and "checkpoints"."optimizer_sha256" is not null
      and "checkpoints"."weights" is null and "checkpoints"."optimizer_state" is null)
      or ("checkpoints"."weights_sha256" is null and "checkpoints"."optimizer_sha256" is null
      and "checkpoints"."weights" is not null and "checkpoints"."optimizer_state" is not null));--> statement-breakpoint
ALTER TABLE "datasets" ADD CONSTRAINT "datasets_content_check" CHECK (("datasets"."blob_sha256" is null) <> ("datasets"."content" is null));--> statement-breakpoint
ALTER TABLE "job_models" ADD CONSTRAINT "job_models_payload_check" CHECK (("job_models"."weights_sha256" is null) <> ("job_models"."weight_data" is null));