-- The tick rewrites extents' content ids and VVOLs' allocated bytes and digests every second. Room left in
-- each page lets PostgreSQL update those rows in place (HOT: no new index entries, as no indexed column
-- changes); drizzle-kit cannot express table storage parameters, hence this hand-written migration.
ALTER TABLE "virtual_volumes" SET (fillfactor = 50);--> statement-breakpoint
ALTER TABLE "extents" SET (fillfactor = 70);
