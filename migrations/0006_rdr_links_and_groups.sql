CREATE TABLE "rdr_group_history" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"group_id" uuid NOT NULL,
	"at" double precision NOT NULL,
	"transition" text NOT NULL,
	"from_state" text NOT NULL,
	"to_state" text NOT NULL,
	"detail" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "rdr_groups" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"source_vm_id" uuid NOT NULL,
	"source_array_id" uuid NOT NULL,
	"target_array_id" uuid NOT NULL,
	"target_container_id" uuid NOT NULL,
	"source_state" text DEFAULT 'SOURCE' NOT NULL,
	"target_state" text DEFAULT 'TARGET' NOT NULL,
	"target_vm_id" uuid,
	"pending" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "rdr_groups_source_vm_id_unique" UNIQUE("source_vm_id")
);
--> statement-breakpoint
CREATE TABLE "rdr_links" (
	"source_array_id" uuid NOT NULL,
	"target_array_id" uuid NOT NULL,
	"bytes_per_second" bigint NOT NULL,
	"latency_ms" double precision NOT NULL,
	"semi_sync_threshold_bytes" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "rdr_links_source_array_id_target_array_id_pk" PRIMARY KEY("source_array_id","target_array_id")
);
--> statement-breakpoint
CREATE TABLE "rdr_points_in_time" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"group_id" uuid NOT NULL,
	"taken_at" double precision NOT NULL,
	"state" text NOT NULL,
	"task_id" uuid,
	"volumes" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "rdr_group_history" ADD CONSTRAINT "rdr_group_history_group_id_rdr_groups_id_fk" FOREIGN KEY ("group_id") REFERENCES "public"."rdr_groups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rdr_points_in_time" ADD CONSTRAINT "rdr_points_in_time_group_id_rdr_groups_id_fk" FOREIGN KEY ("group_id") REFERENCES "public"."rdr_groups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "rdr_group_history_group" ON "rdr_group_history" USING btree ("group_id");--> statement-breakpoint
CREATE INDEX "rdr_groups_target_vm" ON "rdr_groups" USING btree ("target_vm_id");--> statement-breakpoint
CREATE INDEX "rdr_points_in_time_group" ON "rdr_points_in_time" USING btree ("group_id");