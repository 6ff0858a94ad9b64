CREATE TYPE "public"."pair_activity" AS ENUM('REPLICATE', 'SEPARATE', 'RESTORE', 'RESTORE_PROTECT');--> statement-breakpoint
CREATE TYPE "public"."pair_sync_state" AS ENUM('RPL_EXEC', 'RPL_SYNC', 'SEP_EXEC', 'SEPARATED', 'RST_EXEC', 'RST_SYNC', 'CANCEL', 'FAULT');--> statement-breakpoint
CREATE TABLE "replica_pairs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"owner" text NOT NULL,
	"mv_id" uuid NOT NULL,
	"rv_id" uuid NOT NULL,
	"activity" "pair_activity" DEFAULT 'SEPARATE' NOT NULL,
	"sync_state" "pair_sync_state" DEFAULT 'SEPARATED' NOT NULL,
	"copy_control" text NOT NULL,
	"rv_access" text DEFAULT 'RW' NOT NULL,
	"rv_use" text DEFAULT 'COMPLETE' NOT NULL,
	"link" text NOT NULL,
	"bytes_per_second" bigint NOT NULL,
	"latency_ms" double precision DEFAULT 0 NOT NULL,
	"semi_sync_threshold_bytes" bigint DEFAULT 0 NOT NULL,
	"task_id" uuid,
	"synced_at" double precision,
	"state_times" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "replica_pairs" ADD CONSTRAINT "replica_pairs_mv_id_virtual_volumes_id_fk" FOREIGN KEY ("mv_id") REFERENCES "public"."virtual_volumes"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "replica_pairs" ADD CONSTRAINT "replica_pairs_rv_id_virtual_volumes_id_fk" FOREIGN KEY ("rv_id") REFERENCES "public"."virtual_volumes"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "replica_pairs" ADD CONSTRAINT "replica_pairs_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "replica_pairs_rv" ON "replica_pairs" USING btree ("rv_id");--> statement-breakpoint
CREATE INDEX "replica_pairs_mv" ON "replica_pairs" USING btree ("mv_id");