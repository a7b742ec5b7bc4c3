CREATE TABLE "job_models" (
	"job_id" uuid PRIMARY KEY NOT NULL,
	"model_json" jsonb NOT NULL,
	"weight_data" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "job_models" ADD CONSTRAINT "job_models_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;