import { definePlugin } from '../../core/plugin.ts';
import { capabilities } from './capabilities.ts';
import { policyApplied, serve, vvolDeleted } from './engine.ts';
import { schema } from './schema.ts';

export default definePlugin({
  name: 'perforcache',
  version: '1.0.0',
  vendor: 'NEC',
  description: 'NEC PerforCache: SSD as a second-level cache for selected volumes',
  capabilities,
  schema,
  hooks: { serve, policyApplied, vvolDeleted },
  // The cache sits in front of the tiers: its hits blend with the service time the tiers set.
  after: ['perforoptimizer'],
});
