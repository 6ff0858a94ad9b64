-- The volumes of a VM a failover or a test failover registered at the target, made before such a VM's volumes
-- were its own: they were marked as copies of the source volume they stand in for. That link moves to rdr's key
-- (a reverse uses it), and the VM's policy is applied to them as to any VM's. An RV attached to such a VM stays a copy.
UPDATE "virtual_volumes" AS v
  SET "metadata" = (v."metadata" - 'vvolgraph.replicaOf') || jsonb_build_object('nec.rdr.sourceVolume', v."metadata" ->> 'vvolgraph.replicaOf'),
      "policy_state" = 'PENDING', "policy_reason" = NULL
  FROM "rdr_groups" AS g
  WHERE g."target_vm_id" = v."vm_id" AND v."metadata" ? 'vvolgraph.replicaOf'
    AND NOT EXISTS (SELECT 1 FROM "replica_pairs" AS p WHERE p."rv_id" = v."id");
