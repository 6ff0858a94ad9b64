CREATE TYPE "public"."alarm_kind" AS ENUM('SPACE_CAPACITY', 'COMPLIANCE', 'REPLICATION', 'CAPABILITY');--> statement-breakpoint
CREATE TYPE "public"."alarm_status" AS ENUM('RED', 'YELLOW', 'GREEN');--> statement-breakpoint
CREATE TYPE "public"."array_role" AS ENUM('PRIMARY', 'BACKUP');--> statement-breakpoint
CREATE TYPE "public"."bind_state" AS ENUM('UNBOUND', 'BOUND', 'REBINDING');--> statement-breakpoint
CREATE TYPE "public"."pe_protocol" AS ENUM('FC', 'ISCSI');--> statement-breakpoint
CREATE TYPE "public"."policy_state" AS ENUM('PENDING', 'IN_PROGRESS', 'APPLIED', 'INFEASIBLE');--> statement-breakpoint
CREATE TYPE "public"."power_state" AS ENUM('POWERED_OFF', 'POWERED_ON', 'SUSPENDED');--> statement-breakpoint
CREATE TYPE "public"."task_state" AS ENUM('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED');--> statement-breakpoint
CREATE TYPE "public"."tier_kind" AS ENUM('SSD', 'SAS', 'NL_SAS');--> statement-breakpoint
CREATE TYPE "public"."vvol_origin" AS ENUM('RAW', 'CLONE', 'FAST_CLONE', 'SNAPSHOT');--> statement-breakpoint
CREATE TYPE "public"."vvol_type" AS ENUM('CONFIG', 'DATA', 'SWAP', 'MEMORY');--> statement-breakpoint
CREATE SEQUENCE "public"."content_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1;--> statement-breakpoint
CREATE TABLE "alarms" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"kind" "alarm_kind" NOT NULL,
	"status" "alarm_status" NOT NULL,
	"entity_type" text NOT NULL,
	"entity_id" text NOT NULL,
	"message" text NOT NULL,
	"raised_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"entity_type" text NOT NULL,
	"entity_id" text NOT NULL,
	"message" text NOT NULL,
	"data" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "extents" (
	"vvol_id" uuid NOT NULL,
	"idx" integer NOT NULL,
	"content_id" bigint NOT NULL,
	"tier" "tier_kind" DEFAULT 'SAS' NOT NULL,
	CONSTRAINT "extents_vvol_id_idx_pk" PRIMARY KEY("vvol_id","idx")
);
--> statement-breakpoint
CREATE TABLE "policy_rules" (
	"policy_id" uuid NOT NULL,
	"position" integer NOT NULL,
	"capability_id" text NOT NULL,
	"value" jsonb NOT NULL,
	CONSTRAINT "policy_rules_policy_id_position_pk" PRIMARY KEY("policy_id","position")
);
--> statement-breakpoint
CREATE TABLE "pool_tiers" (
	"pool_id" uuid NOT NULL,
	"tier" "tier_kind" NOT NULL,
	"capacity_bytes" bigint NOT NULL,
	"used_bytes" bigint DEFAULT 0 NOT NULL,
	"max_iops" integer NOT NULL,
	CONSTRAINT "pool_tiers_pool_id_tier_pk" PRIMARY KEY("pool_id","tier")
);
--> statement-breakpoint
CREATE TABLE "protocol_endpoints" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"array_id" uuid NOT NULL,
	"name" text NOT NULL,
	"protocol" "pe_protocol" NOT NULL,
	"identifier" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "protocol_endpoints_identifier_unique" UNIQUE("identifier")
);
--> statement-breakpoint
CREATE TABLE "simulation_state" (
	"id" integer PRIMARY KEY NOT NULL,
	"tick" bigint DEFAULT 0 NOT NULL,
	"simulated_seconds" double precision DEFAULT 0 NOT NULL,
	"seed" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "snapshots" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"vm_id" uuid NOT NULL,
	"name" text NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"with_memory" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "storage_arrays" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"model" text NOT NULL,
	"serial_number" text NOT NULL,
	"site" text NOT NULL,
	"role" "array_role" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "storage_arrays_name_unique" UNIQUE("name"),
	CONSTRAINT "storage_arrays_serial_number_unique" UNIQUE("serial_number")
);
--> statement-breakpoint
CREATE TABLE "storage_containers" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"array_id" uuid NOT NULL,
	"pool_id" uuid NOT NULL,
	"name" text NOT NULL,
	"capacity_bytes" bigint NOT NULL,
	"used_bytes" bigint DEFAULT 0 NOT NULL,
	"max_vvol_size_bytes" bigint NOT NULL,
	"namespaces" text[] NOT NULL,
	"offers" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"default_policy_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "storage_containers_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "storage_policies" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"generation" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "storage_policies_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "storage_pools" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"array_id" uuid NOT NULL,
	"name" text NOT NULL,
	"l2_cache_bytes" bigint DEFAULT 0 NOT NULL,
	"encrypted" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tasks" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"kind" text NOT NULL,
	"state" "task_state" DEFAULT 'QUEUED' NOT NULL,
	"bytes_done" bigint DEFAULT 0 NOT NULL,
	"bytes_total" bigint DEFAULT 0 NOT NULL,
	"bytes_per_second" bigint DEFAULT 0 NOT NULL,
	"cancelable" boolean DEFAULT false NOT NULL,
	"cancel_requested" boolean DEFAULT false NOT NULL,
	"target_type" text NOT NULL,
	"target_id" uuid NOT NULL,
	"params" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "virtual_disks" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"vm_id" uuid NOT NULL,
	"unit_number" integer NOT NULL,
	"vvol_id" uuid NOT NULL
);
--> statement-breakpoint
CREATE TABLE "virtual_machines" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"host" text NOT NULL,
	"power_state" "power_state" DEFAULT 'POWERED_OFF' NOT NULL,
	"memory_bytes" bigint NOT NULL,
	"policy_id" uuid NOT NULL,
	"container_id" uuid NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "virtual_volumes" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"vm_id" uuid,
	"container_id" uuid NOT NULL,
	"policy_id" uuid NOT NULL,
	"type" "vvol_type" NOT NULL,
	"provisioned_bytes" bigint NOT NULL,
	"allocated_bytes" bigint DEFAULT 0 NOT NULL,
	"content_digest" text DEFAULT '0000000000000000' NOT NULL,
	"bind_state" "bind_state" DEFAULT 'UNBOUND' NOT NULL,
	"protocol_endpoint_id" uuid,
	"origin" "vvol_origin" DEFAULT 'RAW' NOT NULL,
	"parent_id" uuid,
	"snapshot_id" uuid,
	"policy_state" "policy_state" DEFAULT 'PENDING' NOT NULL,
	"policy_generation" integer DEFAULT 0 NOT NULL,
	"policy_reason" text,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "extents" ADD CONSTRAINT "extents_vvol_id_virtual_volumes_id_fk" FOREIGN KEY ("vvol_id") REFERENCES "public"."virtual_volumes"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "policy_rules" ADD CONSTRAINT "policy_rules_policy_id_storage_policies_id_fk" FOREIGN KEY ("policy_id") REFERENCES "public"."storage_policies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pool_tiers" ADD CONSTRAINT "pool_tiers_pool_id_storage_pools_id_fk" FOREIGN KEY ("pool_id") REFERENCES "public"."storage_pools"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "protocol_endpoints" ADD CONSTRAINT "protocol_endpoints_array_id_storage_arrays_id_fk" FOREIGN KEY ("array_id") REFERENCES "public"."storage_arrays"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "snapshots" ADD CONSTRAINT "snapshots_vm_id_virtual_machines_id_fk" FOREIGN KEY ("vm_id") REFERENCES "public"."virtual_machines"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "storage_containers" ADD CONSTRAINT "storage_containers_array_id_storage_arrays_id_fk" FOREIGN KEY ("array_id") REFERENCES "public"."storage_arrays"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "storage_containers" ADD CONSTRAINT "storage_containers_pool_id_storage_pools_id_fk" FOREIGN KEY ("pool_id") REFERENCES "public"."storage_pools"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "storage_pools" ADD CONSTRAINT "storage_pools_array_id_storage_arrays_id_fk" FOREIGN KEY ("array_id") REFERENCES "public"."storage_arrays"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "virtual_disks" ADD CONSTRAINT "virtual_disks_vm_id_virtual_machines_id_fk" FOREIGN KEY ("vm_id") REFERENCES "public"."virtual_machines"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "virtual_disks" ADD CONSTRAINT "virtual_disks_vvol_id_virtual_volumes_id_fk" FOREIGN KEY ("vvol_id") REFERENCES "public"."virtual_volumes"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "virtual_machines" ADD CONSTRAINT "virtual_machines_policy_id_storage_policies_id_fk" FOREIGN KEY ("policy_id") REFERENCES "public"."storage_policies"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "virtual_machines" ADD CONSTRAINT "virtual_machines_container_id_storage_containers_id_fk" FOREIGN KEY ("container_id") REFERENCES "public"."storage_containers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "virtual_volumes" ADD CONSTRAINT "virtual_volumes_vm_id_virtual_machines_id_fk" FOREIGN KEY ("vm_id") REFERENCES "public"."virtual_machines"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "virtual_volumes" ADD CONSTRAINT "virtual_volumes_container_id_storage_containers_id_fk" FOREIGN KEY ("container_id") REFERENCES "public"."storage_containers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "virtual_volumes" ADD CONSTRAINT "virtual_volumes_policy_id_storage_policies_id_fk" FOREIGN KEY ("policy_id") REFERENCES "public"."storage_policies"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "virtual_volumes" ADD CONSTRAINT "virtual_volumes_protocol_endpoint_id_protocol_endpoints_id_fk" FOREIGN KEY ("protocol_endpoint_id") REFERENCES "public"."protocol_endpoints"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "alarms_kind_entity" ON "alarms" USING btree ("kind","entity_id");--> statement-breakpoint
CREATE INDEX "events_kind" ON "events" USING btree ("kind");--> statement-breakpoint
CREATE INDEX "protocol_endpoints_array" ON "protocol_endpoints" USING btree ("array_id");--> statement-breakpoint
CREATE INDEX "snapshots_vm" ON "snapshots" USING btree ("vm_id");--> statement-breakpoint
CREATE INDEX "storage_containers_array" ON "storage_containers" USING btree ("array_id");--> statement-breakpoint
CREATE UNIQUE INDEX "storage_pools_array_name" ON "storage_pools" USING btree ("array_id","name");--> statement-breakpoint
CREATE INDEX "tasks_state" ON "tasks" USING btree ("state");--> statement-breakpoint
CREATE UNIQUE INDEX "virtual_disks_vm_unit" ON "virtual_disks" USING btree ("vm_id","unit_number");--> statement-breakpoint
CREATE INDEX "virtual_machines_name" ON "virtual_machines" USING btree ("name");--> statement-breakpoint
CREATE INDEX "virtual_machines_policy" ON "virtual_machines" USING btree ("policy_id");--> statement-breakpoint
CREATE INDEX "virtual_machines_container" ON "virtual_machines" USING btree ("container_id");--> statement-breakpoint
CREATE INDEX "virtual_volumes_vm" ON "virtual_volumes" USING btree ("vm_id");--> statement-breakpoint
CREATE INDEX "virtual_volumes_container" ON "virtual_volumes" USING btree ("container_id");--> statement-breakpoint
CREATE INDEX "virtual_volumes_policy" ON "virtual_volumes" USING btree ("policy_id");--> statement-breakpoint
CREATE INDEX "virtual_volumes_parent" ON "virtual_volumes" USING btree ("parent_id");--> statement-breakpoint
CREATE INDEX "virtual_volumes_snapshot" ON "virtual_volumes" USING btree ("snapshot_id");--> statement-breakpoint
CREATE INDEX "virtual_volumes_policy_state" ON "virtual_volumes" USING btree ("policy_state");