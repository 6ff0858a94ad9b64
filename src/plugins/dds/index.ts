import { definePlugin } from '../../core/plugin.ts';
import { runSchedule, taskFinished } from './backups.ts';
import { capabilities } from './capabilities.ts';
import { schema } from './schema.ts';
import { ddsBackupType, ddsGenerationState, ddsGenerationVolumes, ddsGenerations } from './tables.ts';

export default definePlugin({
  name: 'dds',
  version: '1.0.0',
  vendor: 'NEC',
  description: 'NEC DirectDataShadow: server-less backup of volumes to an HS-series backup array',
  capabilities,
  tables: { ddsBackupType, ddsGenerationState, ddsGenerations, ddsGenerationVolumes },
  schema,
  // Backups and retention run on the tick and change no VM's demand (restores make or change VMs through the core, whose events do).
  demandNeutralEvents: ['dds.backup', 'dds.generation'],
  hooks: {
    taskFinished: (ctx, task) => taskFinished(ctx, task),
    // Scheduled backups start in the tick's background phase, after the copies of this tick have moved.
    background: async (ctx) => {
      await runSchedule(ctx, ctx.now, ctx.arrays);
    },
  },
});
