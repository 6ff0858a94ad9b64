CREATE TYPE "public"."workload_preset" AS ENUM('OLTP', 'VDI_BOOT_STORM', 'BACKUP_SCAN', 'IDLE', 'CUSTOM');--> statement-breakpoint
CREATE TABLE "workloads" (
	"vm_id" uuid PRIMARY KEY NOT NULL,
	"preset" "workload_preset" NOT NULL,
	"read_iops" integer NOT NULL,
	"write_iops" integer NOT NULL,
	"block_size_bytes" integer NOT NULL,
	"random_ratio" double precision NOT NULL,
	"zipf_alpha" double precision NOT NULL,
	"working_set_ratio" double precision NOT NULL,
	"burst" jsonb,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "workloads" ADD CONSTRAINT "workloads_vm_id_virtual_machines_id_fk" FOREIGN KEY ("vm_id") REFERENCES "public"."virtual_machines"("id") ON DELETE cascade ON UPDATE no action;