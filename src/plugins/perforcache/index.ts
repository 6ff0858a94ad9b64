import { definePlugin } from '../../core/plugin.ts';
import { capabilities } from './capabilities.ts';

export default definePlugin({
  name: 'perforcache',
  version: '1.0.0',
  vendor: 'NEC',
  description: 'NEC PerforCache: SSD as a second-level cache for selected volumes',
  capabilities,
});
