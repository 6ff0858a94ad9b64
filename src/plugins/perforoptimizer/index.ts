import { definePlugin } from '../../core/plugin.ts';
import { capabilities } from './capabilities.ts';
import { compliance } from './compliance.ts';
import { background, policyApplied, serve, vvolDeleted } from './engine.ts';
import { relocateNowMutation, schema } from './schema.ts';

export default definePlugin({
  name: 'perforoptimizer',
  version: '1.0.0',
  vendor: 'NEC',
  description: 'NEC PerforOptimizer: automatic tiering of volume extents across SSD, SAS and NL-SAS by access heat',
  capabilities,
  schema: (builder, refs) => {
    schema(builder, refs);
    relocateNowMutation(builder, refs);
  },
  hooks: { serve, background, policyApplied, vvolDeleted, compliance },
});
