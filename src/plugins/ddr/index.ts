import { definePlugin } from '../../core/plugin.ts';
import { capabilities } from './capabilities.ts';
import { policyApplied } from './policy.ts';
import { schema } from './schema.ts';

export default definePlugin({
  name: 'ddr',
  version: '1.0.0',
  vendor: 'NEC',
  description: 'NEC DynamicDataReplication: local replica volumes in the same array',
  capabilities,
  schema,
  hooks: { policyApplied },
  replicaPairs: { copyControls: ['SYNC', 'BACKGROUND'] },
});
