import { definePlugin } from '../../core/plugin.ts';
import { capabilities } from './capabilities.ts';
import { compliance, schedule } from './engine.ts';
import { schema } from './schema.ts';

export default definePlugin({
  name: 'io-load-manager',
  version: '1.0.0',
  vendor: 'NEC',
  description: 'IO Load Manager: per-volume IOPS upper and lower limits and priority, divided exactly per pool each tick',
  capabilities,
  schema,
  hooks: { schedule, compliance },
  // upperReport's events come from ticks and change no VM's demand.
  demandNeutralEvents: ['iolm.'],
});
