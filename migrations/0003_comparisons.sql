CREATE TABLE "comparisons" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant" text NOT NULL,
	"spec" jsonb NOT NULL,
	"optimizers" jsonb NOT NULL,
	"seeds" jsonb NOT NULL,
	"target" jsonb,
	"idempotency_key" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "epoch_metrics" ADD COLUMN "val_reconstruction_error" double precision;--> statement-breakpoint
ALTER TABLE "epoch_metrics" ADD COLUMN "val_exact_match" double precision;--> statement-breakpoint
ALTER TABLE "epoch_metrics" ADD COLUMN "val_bleu" double precision;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "comparison_id" uuid;--> statement-breakpoint
CREATE UNIQUE INDEX "comparisons_tenant_idempotency_key_idx" ON "comparisons" USING btree ("tenant","idempotency_key");--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_comparison_id_comparisons_id_fk" FOREIGN KEY ("comparison_id") REFERENCES "public"."comparisons"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
-- jobs_comparison_idx serves every GET and SSE poll of a comparison, which
-- reads all its jobs. Most jobs belong to no comparison, so the partial index
-- holds only those that do.
CREATE INDEX "jobs_comparison_idx" ON "jobs" USING btree ("comparison_id") WHERE "jobs"."comparison_id" is not null;