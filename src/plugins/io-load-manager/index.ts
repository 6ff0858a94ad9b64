import { definePlugin } from '../../core/plugin.ts';
import { capabilities } from './capabilities.ts';

export default definePlugin({
  name: 'io-load-manager',
  version: '1.0.0',
  vendor: 'NEC',
  description: 'NEC IO Load Manager: per-volume upper and lower IOPS limits and priority within a pool',
  capabilities,
});
