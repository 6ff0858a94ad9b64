CREATE TYPE "public"."copy_state" AS ENUM('RUNNING', 'DONE', 'CANCELLED');--> statement-breakpoint
CREATE TABLE "copy_extents" (
	"copy_id" uuid NOT NULL,
	"idx" integer NOT NULL,
	"content_id" bigint,
	CONSTRAINT "copy_extents_copy_id_idx_pk" PRIMARY KEY("copy_id","idx")
);
--> statement-breakpoint
CREATE TABLE "extent_copies" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"task_id" uuid NOT NULL,
	"source_vvol_id" uuid NOT NULL,
	"target_vvol_id" uuid NOT NULL,
	"range" text NOT NULL,
	"immediate" boolean DEFAULT false NOT NULL,
	"link" text NOT NULL,
	"bytes_per_second" bigint NOT NULL,
	"state" "copy_state" DEFAULT 'RUNNING' NOT NULL,
	"frozen_at" double precision NOT NULL,
	"frozen_digest" text NOT NULL,
	"bytes_total" bigint NOT NULL,
	"bytes_done" bigint DEFAULT 0 NOT NULL,
	"cursor" integer DEFAULT 0 NOT NULL,
	"credit" double precision DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "owner" text DEFAULT 'core' NOT NULL;--> statement-breakpoint
ALTER TABLE "copy_extents" ADD CONSTRAINT "copy_extents_copy_id_extent_copies_id_fk" FOREIGN KEY ("copy_id") REFERENCES "public"."extent_copies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "extent_copies" ADD CONSTRAINT "extent_copies_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "extent_copies" ADD CONSTRAINT "extent_copies_source_vvol_id_virtual_volumes_id_fk" FOREIGN KEY ("source_vvol_id") REFERENCES "public"."virtual_volumes"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "extent_copies" ADD CONSTRAINT "extent_copies_target_vvol_id_virtual_volumes_id_fk" FOREIGN KEY ("target_vvol_id") REFERENCES "public"."virtual_volumes"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "extent_copies_task" ON "extent_copies" USING btree ("task_id");--> statement-breakpoint
CREATE INDEX "extent_copies_source" ON "extent_copies" USING btree ("source_vvol_id");--> statement-breakpoint
CREATE INDEX "extent_copies_target" ON "extent_copies" USING btree ("target_vvol_id");