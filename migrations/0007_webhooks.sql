CREATE TABLE "webhook_deliveries" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"job_id" uuid NOT NULL,
	"event_seq" integer NOT NULL,
	"event" text NOT NULL,
	"payload" jsonb NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"status_code" integer,
	"last_error" text,
	"response_excerpt" text,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"delivered_at" timestamp with time zone,
	"failed_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "webhook" jsonb;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "webhook_secret" text;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "webhook_deliveries_job_seq_idx" ON "webhook_deliveries" USING btree ("job_id","event_seq");--> statement-breakpoint
CREATE INDEX "webhook_deliveries_due_idx" ON "webhook_deliveries" USING btree ("next_attempt_at") WHERE "webhook_deliveries"."delivered_at" is null and "webhook_deliveries"."failed_at" is null;--> statement-breakpoint
-- Queues a job's webhook delivery in the statement that appends the event,
-- whichever writer appends it (API, worker, reaper), so an acknowledged
-- event never lacks its delivery. Event names: a status, or `epoch`.
CREATE FUNCTION "webhook_enqueue"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  hook jsonb;
  name text;
BEGIN
  name := CASE NEW.type
    WHEN 'status' THEN NEW.data->>'status'
    WHEN 'epoch' THEN 'epoch'
  END;
  IF name IS NULL THEN RETURN NULL; END IF;
  SELECT webhook INTO hook FROM jobs WHERE id = NEW.job_id;
  IF hook IS NULL OR NOT (hook->'events') @> to_jsonb(name) THEN RETURN NULL; END IF;
  INSERT INTO webhook_deliveries (job_id, event_seq, event, payload)
  VALUES (NEW.job_id, NEW.seq, name, jsonb_build_object(
    'type', 'job.' || name,
    'timestamp', to_char(NEW.created_at AT TIME ZONE 'UTC',
      'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'data', jsonb_build_object('job_id', NEW.job_id, 'seq', NEW.seq,
      'event', NEW.type, 'data', NEW.data)))
  ON CONFLICT (job_id, event_seq) DO NOTHING;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "job_events_webhook" AFTER INSERT ON "job_events"
  FOR EACH ROW EXECUTE FUNCTION "webhook_enqueue"();
