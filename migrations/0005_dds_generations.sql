CREATE TYPE "public"."dds_backup_type" AS ENUM('FULL', 'DIFFERENTIAL');--> statement-breakpoint
CREATE TYPE "public"."dds_generation_state" AS ENUM('RUNNING', 'AVAILABLE', 'FAILED', 'PRUNED');--> statement-breakpoint
CREATE TABLE "dds_generation_volumes" (
	"generation_id" uuid NOT NULL,
	"source_vvol_id" uuid NOT NULL,
	"backup_vvol_id" uuid,
	"type" text NOT NULL,
	"unit_number" integer,
	"provisioned_bytes" bigint NOT NULL,
	"policy_id" uuid NOT NULL,
	"content_digest" text NOT NULL,
	CONSTRAINT "dds_generation_volumes_generation_id_source_vvol_id_pk" PRIMARY KEY("generation_id","source_vvol_id")
);
--> statement-breakpoint
CREATE TABLE "dds_generations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"vm_id" uuid NOT NULL,
	"vm_name" text NOT NULL,
	"vm_host" text NOT NULL,
	"vm_memory_bytes" bigint NOT NULL,
	"vm_policy_id" uuid NOT NULL,
	"number" integer NOT NULL,
	"type" "dds_backup_type" NOT NULL,
	"state" "dds_generation_state" DEFAULT 'RUNNING' NOT NULL,
	"time" double precision NOT NULL,
	"base_generation_id" uuid,
	"container_id" uuid NOT NULL,
	"dedup" boolean NOT NULL,
	"task_id" uuid,
	"logical_bytes" bigint DEFAULT 0 NOT NULL,
	"stored_bytes" bigint DEFAULT 0 NOT NULL,
	"finished_at" double precision,
	"pruned_at" double precision,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "dds_generation_volumes" ADD CONSTRAINT "dds_generation_volumes_generation_id_dds_generations_id_fk" FOREIGN KEY ("generation_id") REFERENCES "public"."dds_generations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "dds_generation_volumes_backup" ON "dds_generation_volumes" USING btree ("backup_vvol_id");--> statement-breakpoint
CREATE UNIQUE INDEX "dds_generations_vm_number" ON "dds_generations" USING btree ("vm_id","number");--> statement-breakpoint
CREATE INDEX "dds_generations_state" ON "dds_generations" USING btree ("state");--> statement-breakpoint
CREATE INDEX "dds_generations_task" ON "dds_generations" USING btree ("task_id");