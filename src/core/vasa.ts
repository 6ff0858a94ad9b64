import { definePlugin } from './plugin.ts';

/** The core's own capabilities, registered through the same contract as any plugin's. */
export const vasaPlugin = definePlugin({
  name: 'vasa',
  version: '1.0.0',
  vendor: 'vvolgraph',
  description: 'Core VASA capabilities: capacity and performance class, snapshot, clone, replication, encryption',
  capabilities: {
    namespace: 'vasa',
    items: [
      { id: 'vasa.capacityClass', name: 'Capacity class', summary: 'SMALL: fast, expensive media; LARGE: cheap bulk capacity', valueType: 'ENUM', allowedValues: ['SMALL', 'MEDIUM', 'LARGE'], default: 'MEDIUM', lineOfService: 'PERSISTENCE' },
      { id: 'vasa.performanceClass', name: 'Performance class', summary: 'The tier of service the container is built for', valueType: 'ENUM', allowedValues: ['HIGH', 'MEDIUM', 'LOW'], default: 'MEDIUM', lineOfService: 'PERSISTENCE' },
      { id: 'vasa.snapshot', name: 'Snapshots', summary: 'Array-side, VM-consistent snapshots', valueType: 'BOOLEAN', default: false, lineOfService: 'DATA_PROTECTION' },
      { id: 'vasa.clone', name: 'Cloning', summary: 'Array-side full and fast clones', valueType: 'BOOLEAN', default: false, lineOfService: 'DATA_PROTECTION' },
      { id: 'vasa.replication', name: 'Replication', summary: 'The VVOLs are replicated by the array', valueType: 'BOOLEAN', default: false, lineOfService: 'REPLICATION' },
      { id: 'vasa.encryption', name: 'Encryption at rest', summary: 'Data is stored on self-encrypting media', valueType: 'BOOLEAN', default: false, lineOfService: 'ENCRYPTION' },
    ],
  },
});
