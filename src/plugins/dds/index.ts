import { definePlugin } from '../../core/plugin.ts';
import { capabilities } from './capabilities.ts';

export default definePlugin({
  name: 'dds',
  version: '1.0.0',
  vendor: 'NEC',
  description: 'NEC DirectDataShadow: server-less backup of volumes to an HS-series backup array',
  capabilities,
});
