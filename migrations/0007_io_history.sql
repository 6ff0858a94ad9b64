CREATE TABLE "io_history" (
	"subject_id" uuid NOT NULL,
	"minute" integer NOT NULL,
	"samples" integer NOT NULL,
	"seconds" double precision NOT NULL,
	"read_iops" double precision NOT NULL,
	"max_read_iops" double precision NOT NULL,
	"write_iops" double precision NOT NULL,
	"max_write_iops" double precision NOT NULL,
	"mbps" double precision NOT NULL,
	"max_mbps" double precision NOT NULL,
	"latency_ms" double precision NOT NULL,
	"max_latency_ms" double precision NOT NULL,
	"served_iops" double precision NOT NULL,
	"max_served_iops" double precision NOT NULL,
	"throttled_iops" double precision NOT NULL,
	"max_throttled_iops" double precision NOT NULL,
	"cache_hit_ratio" double precision NOT NULL,
	"ssd_served_ratio" double precision NOT NULL,
	CONSTRAINT "io_history_subject_id_minute_pk" PRIMARY KEY("subject_id","minute")
);
--> statement-breakpoint
CREATE INDEX "io_history_minute" ON "io_history" USING btree ("minute");