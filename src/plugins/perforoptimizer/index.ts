import { definePlugin } from '../../core/plugin.ts';
import { capabilities } from './capabilities.ts';

export default definePlugin({
  name: 'perforoptimizer',
  version: '1.0.0',
  vendor: 'NEC',
  description: 'NEC PerforOptimizer: automatic tiering of volume extents across SSD, SAS and NL-SAS by access heat',
  capabilities,
});
