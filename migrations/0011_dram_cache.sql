ALTER TABLE "io_history" ADD COLUMN "dram_hit_ratio" double precision DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "storage_arrays" ADD COLUMN "cache_bytes" bigint DEFAULT 0 NOT NULL;