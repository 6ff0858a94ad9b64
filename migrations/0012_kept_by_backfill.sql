-- Backup generation volumes and rdr point-in-time copies made before `vvolgraph.keptBy` existed: mark them
-- as their features mark new ones, so no pair can take them (a restore or copy onto them would change a backup).
UPDATE "virtual_volumes" SET "metadata" = "metadata" || '{"vvolgraph.keptBy": "dds"}'::jsonb
  WHERE "metadata" ? 'vvolgraph.ddsGeneration' AND NOT "metadata" ? 'vvolgraph.keptBy';--> statement-breakpoint
UPDATE "virtual_volumes" SET "metadata" = "metadata" || '{"vvolgraph.keptBy": "rdr"}'::jsonb
  WHERE "metadata" ? 'nec.rdr.pointInTime' AND NOT "metadata" ? 'vvolgraph.keptBy';
