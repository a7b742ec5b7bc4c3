ALTER TABLE "checkpoints" ADD COLUMN "step" integer;--> statement-breakpoint
ALTER TABLE "checkpoints" ADD COLUMN "model_json" jsonb;--> statement-breakpoint
ALTER TABLE "checkpoints" ADD COLUMN "model_weights_sha256" text;--> statement-breakpoint
ALTER TABLE "checkpoints" ADD COLUMN "model_weights_size" bigint;