import { definePlugin } from '../../core/plugin.ts';
import { capabilities } from './capabilities.ts';
import { compliance, observe, policyApplied, taskFinished, vmPoweredOn, vmReverted, vvolCreated, vvolDeleted } from './engine.ts';
import { schema } from './schema.ts';
import { rdrGroupHistory, rdrGroups, rdrLinks, rdrPointsInTime } from './tables.ts';

export default definePlugin({
  name: 'rdr',
  version: '1.0.0',
  vendor: 'NEC',
  description: 'NEC RemoteDataReplication: replica volumes on an array at another site, over links of set bandwidth and latency; VASA 3.0 replication groups with point-in-time replicas and DR transitions',
  capabilities,
  tables: { rdrLinks, rdrGroups, rdrPointsInTime, rdrGroupHistory },
  schema,
  hooks: { observe, compliance, taskFinished, policyApplied, vmPoweredOn, vmReverted, vvolCreated, vvolDeleted },
  replicaPairs: { copyControls: ['SYNC', 'SEMI_SYNC', 'BACKGROUND'] },
});
