import { definePlugin } from '../../core/plugin.ts';
import { capabilities } from './capabilities.ts';

export default definePlugin({
  name: 'rdr',
  version: '1.0.0',
  vendor: 'NEC',
  description: 'NEC RemoteDataReplication: replica volumes on an array at another site',
  capabilities,
});
