ALTER TABLE "replica_pairs" ADD COLUMN "policy_managed" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "virtual_disks" ADD COLUMN "read_only" boolean DEFAULT false NOT NULL;