-- drizzle-kit emits the new primary key before the column it names; the
-- columns come first here so the statements apply in order.
ALTER TABLE "fngd_coefficients" ADD COLUMN "epoch" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "fngd_coefficients" ADD COLUMN "diagonal" "bytea";--> statement-breakpoint
ALTER TABLE "fngd_coefficients" DROP CONSTRAINT "fngd_coefficients_job_id_batch_index_layer_index_pk";--> statement-breakpoint
ALTER TABLE "fngd_coefficients" ADD CONSTRAINT "fngd_coefficients_job_id_batch_index_layer_index_epoch_pk" PRIMARY KEY("job_id","batch_index","layer_index","epoch");
