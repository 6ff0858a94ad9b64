import { z } from 'zod';
import { type SchemaBuilder, type SchemaRefs, type TaskRow } from '../../core/plugin.ts';
import { deleteGeneration, generationsOf, restore, startBackup, volumesOf, type GenerationRow, type GenerationVolumeRow } from './backups.ts';
import { ddsGenerations } from './tables.ts';

const vmName = z.string().trim().min(1, 'name must not be empty').max(80, 'name must be at most 80 characters');

/**
 * logicalBytes / storedBytes. Undefined (null) while the figures are not final (RUNNING, FAILED) and when
 * the generation stored nothing new: every byte was already on the array, a ratio without bound.
 */
export function dedupRatio(generation: Pick<GenerationRow, 'logicalBytes' | 'storedBytes' | 'state'>): number | null {
  if (generation.state === 'RUNNING' || generation.state === 'FAILED' || generation.storedBytes === 0) return null;
  return generation.logicalBytes / generation.storedBytes;
}

/** `VirtualMachine.backups`, the `BackupGeneration` node, `backupGenerations`, and backup, restore and delete. */
export function schema(builder: SchemaBuilder, refs: SchemaRefs): void {
  const BackupType = builder.enumType('BackupType', { values: ['FULL', 'DIFFERENTIAL'] as const, description: 'FULL copies every extent; DIFFERENTIAL only those changed since the last available generation.' });
  const GenerationState = builder.enumType('BackupGenerationState', {
    values: ['RUNNING', 'AVAILABLE', 'FAILED', 'PRUNED'] as const,
    description: 'RUNNING while copying; AVAILABLE to restore from; FAILED (or cancelled, nothing kept); PRUNED by retention (volumes deleted, the record kept).',
  });
  const RestoreTarget = builder.enumType('RestoreTarget', { values: ['VM', 'NEW_VM'] as const, description: 'VM: onto the backed-up VM (powered off); NEW_VM: a new VM made from the generation.' });

  const generationsByVm = (ctx: any) =>
    ctx.loaders.loader('ddsGenerationsByVm', async (vmIds: readonly string[]) => {
      const rows = await generationsOf(ctx.services.core.db, vmIds);
      return vmIds.map((id) => rows.filter((r) => r.vmId === id));
    });
  const volumesByGeneration = (ctx: any) =>
    ctx.loaders.loader('ddsVolumesByGeneration', async (ids: readonly string[]) => {
      const rows = await volumesOf(ctx.services.core.db, ids);
      return ids.map((id) => rows.filter((r) => r.generationId === id));
    });
  const generationsById = (ctx: any) => ctx.loaders.loaderById('ddsGenerationsById', ddsGenerations, ddsGenerations.id);

  const BackupVolume = builder.objectRef<GenerationVolumeRow>('BackupVolume').implement({
    description: 'One volume of a backup generation: the VM volume it holds and the backup volume on the BACKUP array.',
    fields: (t) => ({
      type: t.expose('type', { type: refs.enums.VirtualVolumeType, description: 'CONFIG or DATA.' }),
      unitNumber: t.exposeInt('unitNumber', { nullable: true, description: 'The disk\'s unit number (DATA).' }),
      provisionedBytes: t.expose('provisionedBytes', { type: 'Bytes' }),
      contentDigest: t.exposeString('contentDigest', { description: 'The source\'s digest at the generation\'s point in time: the backup volume\'s once AVAILABLE, and a restored volume\'s once its task is done.' }),
      sourceVolume: t.field({ type: refs.VirtualVolume, nullable: true, description: 'The VM volume backed up (null once deleted).', resolve: (v, _args, ctx) => ctx.loaders.vvols.load(v.sourceVvolId) }),
      backupVolume: t.field({ type: refs.VirtualVolume, nullable: true, description: 'The volume on the BACKUP array (null once pruned).', resolve: (v, _args, ctx) => (v.backupVvolId ? ctx.loaders.vvols.load(v.backupVvolId) : null) }),
    }),
  });

  const BackupGeneration = builder.objectRef<GenerationRow>('BackupGeneration');
  builder.node(BackupGeneration, {
    description: 'DirectDataShadow: one backup generation of a VM on the HS backup array.',
    id: { resolve: (g) => g.id },
    loadMany: (ids, ctx) => generationsById(ctx).loadMany(ids) as never,
    fields: (t) => ({
      number: t.exposeInt('number', { description: '1, 2, ... per VM.' }),
      type: t.field({ type: BackupType, resolve: (g) => g.type }),
      state: t.field({ type: GenerationState, resolve: (g) => g.state }),
      time: t.exposeFloat('time', { description: 'The point in time backed up (simulated seconds).' }),
      finishedAt: t.float({ nullable: true, description: 'When it became AVAILABLE or FAILED (simulated seconds).', resolve: (g) => g.finishedAt }),
      prunedAt: t.float({ nullable: true, description: 'When retention pruned it (simulated seconds).', resolve: (g) => g.prunedAt }),
      logicalBytes: t.expose('logicalBytes', { type: 'Bytes', description: 'Data the generation holds (its volumes\' allocated bytes).' }),
      storedBytes: t.expose('storedBytes', { type: 'Bytes', description: 'Bytes it added to the backup array: extents whose content no earlier available generation (of any VM) held; without dedup, the bytes copied.' }),
      dedupRatio: t.float({ nullable: true, description: 'logicalBytes / storedBytes; null while running, failed, or when it stored nothing new.', resolve: dedupRatio }),
      dedup: t.exposeBoolean('dedup', { description: 'nec.dds.dedup when it was taken.' }),
      error: t.exposeString('error', { nullable: true }),
      vmName: t.exposeString('vmName', { description: 'The VM\'s name when backed up (the VM may be gone).' }),
      virtualMachine: t.field({ type: refs.VirtualMachine, nullable: true, description: 'The VM backed up; null once deleted.', resolve: (g, _args, ctx) => ctx.loaders.vms.load(g.vmId) }),
      baseGeneration: t.field({ type: BackupGeneration, nullable: true, description: 'The generation a DIFFERENTIAL started from.', resolve: (g, _args, ctx) => (g.baseGenerationId ? generationsById(ctx).load(g.baseGenerationId) : null) }),
      task: t.field({ type: refs.Task, nullable: true, description: 'The backup task.', resolve: (g, _args, ctx) => (g.taskId ? ctx.loaders.tasks.load(g.taskId) : null) }),
      volumes: t.field({ type: [BackupVolume], resolve: (g, _args, ctx) => volumesByGeneration(ctx).load(g.id) }),
    }),
  });

  builder.objectField(refs.VirtualMachine, 'backups', (t) =>
    t.field({
      type: [BackupGeneration],
      description: 'DirectDataShadow backup generations of this VM, newest first (pruned ones too, as PRUNED).',
      args: { state: t.arg({ type: GenerationState }) },
      resolve: async (vm, args, ctx) => {
        const rows: GenerationRow[] = await generationsByVm(ctx).load(vm.id);
        return args.state ? rows.filter((g) => g.state === args.state) : rows;
      },
    }),
  );

  builder.queryField('backupGenerations', (t) =>
    t.field({
      type: [BackupGeneration],
      description: 'Backup generations of a VM by id (also of a deleted VM), newest first.',
      args: { vmId: t.arg.id({ required: true, description: 'A VirtualMachine id, also of a deleted one.' }), state: t.arg({ type: GenerationState }) },
      resolve: async (_root, args, ctx) => {
        const vmId = refs.decodeId(String(args.vmId), ['VirtualMachine'], 'vmId').id;
        const rows: GenerationRow[] = await generationsByVm(ctx).load(vmId);
        return args.state ? rows.filter((g) => g.state === args.state) : rows;
      },
    }),
  );

  const generationId = (input: { generationId: unknown }) => refs.decodeId(String(input.generationId), ['BackupGeneration'], 'input.generationId').id;

  refs.mutation<{ generation: GenerationRow; task: TaskRow }>({
    name: 'backupVirtualMachine',
    description: 'DirectDataShadow: backs the VM\'s CONFIG and DATA volumes up to the BACKUP array as a new generation (a task over the dds link); retention prunes the oldest once it is AVAILABLE.',
    scope: 'vmAdmin',
    input: (t) => ({
      vmId: t.id({ required: true }),
      type: t.field({ type: BackupType, description: 'Default: the policy\'s nec.dds.mode (DIFFERENTIAL). DIFFERENTIAL without an available generation is FULL.' }),
    }),
    payload: (t) => ({
      generation: t.field({ type: BackupGeneration, resolve: (p) => p.generation }),
      task: t.field({ type: refs.Task, resolve: (p) => p.task }),
    }),
    resolve: (input, work, ctx) => {
      const vmId = refs.decodeId(String(input.vmId), ['VirtualMachine'], 'input.vmId').id;
      return startBackup(ctx.services.core.context(work), vmId, input.type ?? null);
    },
  });

  refs.mutation<{ generation: GenerationRow; task: TaskRow; vmId: string }>({
    name: 'restoreBackup',
    description: 'Restores an AVAILABLE generation onto its VM (powered off) or as a new VM, as a task over the dds link; the VM cannot power on until it is done.',
    scope: 'vmAdmin',
    input: (t) => ({
      generationId: t.id({ required: true }),
      target: t.field({ type: RestoreTarget, required: true }),
      name: t.string({ validate: vmName, description: 'NEW_VM: its name (default <vm>-restore-<number>).' }),
      containerId: t.id({ description: 'NEW_VM: where it goes (default: placement by its policy).' }),
      policyId: t.id({ description: 'NEW_VM: its storage policy (default: the VM\'s policy when it was backed up; required once that policy is deleted).' }),
    }),
    payload: (t) => ({
      generation: t.field({ type: BackupGeneration, resolve: (p) => p.generation }),
      task: t.field({ type: refs.Task, resolve: (p) => p.task }),
      virtualMachine: t.field({ type: refs.VirtualMachine, resolve: async (p, _args, ctx) => (await ctx.loaders.vms.load(p.vmId))! }),
    }),
    resolve: (input, work, ctx) => {
      const id = generationId(input);
      const containerId = input.containerId ? refs.decodeId(String(input.containerId), ['StorageContainer'], 'input.containerId').id : null;
      const policyId = input.policyId ? refs.decodeId(String(input.policyId), ['StoragePolicy'], 'input.policyId').id : null;
      return restore(ctx.services.core.context(work), { generationId: id, target: input.target, name: input.name ?? null, containerId, policyId });
    },
  });

  refs.mutation<{ deletedId: string }>({
    name: 'deleteBackup',
    description: 'Deletes a backup generation (its volumes and its record); not while it is running or being restored from.',
    scope: 'vmAdmin',
    input: (t) => ({ generationId: t.id({ required: true }) }),
    payload: (t) => ({ deletedId: t.id({ resolve: (p) => p.deletedId }) }),
    resolve: async (input, work, ctx) => {
      await deleteGeneration(ctx.services.core.context(work), generationId(input));
      return { deletedId: String(input.generationId) };
    },
  });
}
