import { and, eq, ilike } from 'drizzle-orm';
import { z } from 'zod';
import { worstOf } from '../../core/compliance.ts';
import { virtualMachines } from '../../core/db/tables.ts';
import { cloneVm } from '../../core/services/clones.ts';
import { deleteSnapshot, revertVm, snapshotVm } from '../../core/services/snapshots.ts';
import { ValidationError } from '../../core/errors.ts';
import { createVirtualMachine, deleteVirtualMachine, findVm, powerOff, powerOn } from '../../core/services/vms.ts';
import { presets, setWorkload, type WorkloadProfile } from '../../core/services/workloads.ts';
import { loadAll } from '../loaders.ts';
import type { Builder } from '../builder.ts';
import { tablePage } from '../connections.ts';
import { decodeId, type Rows, type SchemaRefs } from '../refs.ts';
import type { Enums } from './enums.ts';

const vmName = z.string().trim().min(1, 'name must not be empty').max(80, 'name must be at most 80 characters');
export const sizeBytes = z.number().int('sizeBytes must be a whole number of bytes').positive('sizeBytes must be positive').max(Number.MAX_SAFE_INTEGER);
const like = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
const optionalId = (id: unknown, type: string, field: string) => (id ? decodeId(String(id), [type], field).id : null);

export function addVirtualMachines(builder: Builder, refs: SchemaRefs, enums: Enums) {
  const Compliance = builder.objectRef<{ status: string; violations: { capabilityId: string; expected: string; current: string; message: string }[] }>('ComplianceResult').implement({
    description: 'SPBM compliance: the status and, for each violation, the capability, what the policy expects and what is there. UNKNOWN lists the capabilities whose judge failed (current "unknown", the message says why).',
    fields: (t) => ({
      status: t.field({ type: enums.ComplianceStatus, resolve: (c) => c.status as never }),
      violations: t.field({
        type: [builder.objectRef<{ capabilityId: string; expected: string; current: string; message: string }>('ComplianceViolation').implement({
          fields: (v) => ({ capabilityId: v.exposeString('capabilityId'), expected: v.exposeString('expected'), current: v.exposeString('current'), message: v.exposeString('message') }),
        })],
        resolve: (c) => c.violations,
      }),
    }),
  });

  const Disk = builder.objectRef<{ unitNumber: number; vvolId: string; readOnly: boolean }>('VirtualDisk').implement({
    fields: (t) => ({
      unitNumber: t.exposeInt('unitNumber'),
      readOnly: t.exposeBoolean('readOnly', { description: 'The VM only reads this disk (a replica attached read-only).' }),
      virtualVolume: t.field({ type: refs.VirtualVolume, resolve: async (d, _args, ctx) => (await ctx.loaders.vvols.load(d.vvolId))! }),
    }),
  });

  const Burst = builder.objectRef<NonNullable<WorkloadProfile['burst']>>('WorkloadBurst').implement({
    fields: (t) => ({ periodSeconds: t.exposeInt('periodSeconds'), dutyCycle: t.exposeFloat('dutyCycle'), multiplier: t.exposeFloat('multiplier') }),
  });
  const Workload = builder.objectRef<WorkloadProfile>('Workload').implement({
    description: 'The synthetic I/O profile the simulated array runs for a VM.',
    fields: (t) => ({
      preset: t.expose('preset', { type: enums.WorkloadPreset }),
      readIops: t.exposeInt('readIops'),
      writeIops: t.exposeInt('writeIops'),
      blockSizeBytes: t.exposeInt('blockSizeBytes'),
      randomRatio: t.exposeFloat('randomRatio', { description: 'Share of random I/Os, 0..1.' }),
      zipfAlpha: t.exposeFloat('zipfAlpha', { description: 'Zipf skew over the working set.' }),
      workingSetRatio: t.exposeFloat('workingSetRatio', { description: 'Share of the VM\'s data the I/Os fall on, 0..1.' }),
      burst: t.field({ type: Burst, nullable: true, resolve: (w) => w.burst }),
    }),
  });

  builder.node(refs.VirtualMachine, {
    id: { resolve: (vm) => vm.id },
    loadMany: (ids, ctx) => loadAll(ctx.loaders.vms, ids),
    fields: (t) => ({
      name: t.exposeString('name'),
      host: t.exposeString('host'),
      powerState: t.expose('powerState', { type: enums.PowerState }),
      memoryBytes: t.expose('memoryBytes', { type: 'Bytes' }),
      storagePolicy: t.field({ type: refs.StoragePolicy, resolve: async (vm, _args, ctx) => (await ctx.loaders.policies.load(vm.policyId))! }),
      storageContainer: t.field({ type: refs.StorageContainer, resolve: async (vm, _args, ctx) => (await ctx.loaders.containers.load(vm.containerId))! }),
      virtualVolumes: t.field({ type: [refs.VirtualVolume], description: 'CONFIG, one DATA per disk, SWAP while powered on (snapshot VVOLs are under snapshots).', resolve: (vm, _args, ctx) => ctx.loaders.vvolsByVm.load(vm.id) }),
      disks: t.field({ type: [Disk], resolve: (vm, _args, ctx) => ctx.loaders.disksByVm.load(vm.id) }),
      snapshots: t.field({ type: [refs.Snapshot], resolve: (vm, _args, ctx) => ctx.loaders.snapshotsByVm.load(vm.id) }),
      workload: t.field({ type: Workload, resolve: (vm, _args, ctx) => ctx.loaders.workloadsByVm.load(vm.id) }),
      compliance: t.field({
        type: Compliance,
        description: 'The least compliant of its VVOLs.',
        // A VVOL that could not be judged fails the field: left out, it made the VM look NOT_APPLICABLE.
        resolve: async (vm, _args, ctx) => worstOf(await loadAll(ctx.loaders.compliance, await ctx.loaders.vvolsByVm.load(vm.id))),
      }),
      createdAt: t.expose('createdAt', { type: 'DateTime' }),
    }),
  });

  builder.node(refs.Snapshot, {
    id: { resolve: (s) => s.id },
    loadMany: (ids, ctx) => loadAll(ctx.loaders.snapshots, ids),
    fields: (t) => ({
      name: t.exposeString('name'),
      description: t.exposeString('description'),
      withMemory: t.exposeBoolean('withMemory'),
      virtualMachine: t.field({ type: refs.VirtualMachine, resolve: async (s, _args, ctx) => (await ctx.loaders.vms.load(s.vmId))! }),
      virtualVolumes: t.field({ type: [refs.VirtualVolume], description: 'The SNAPSHOT VVOLs (one per disk) and the MEMORY VVOL, if taken with memory.', resolve: (s, _args, ctx) => ctx.loaders.vvolsBySnapshot.load(s.id) }),
      createdAt: t.expose('createdAt', { type: 'DateTime' }),
    }),
  });

  const Filter = builder.inputType('VirtualMachineFilter', {
    fields: (t) => ({
      name: t.string({ description: 'Exact name.' }),
      nameContains: t.string({ description: 'Case-insensitive substring of the name.' }),
      policyId: t.id(),
      powerState: t.field({ type: enums.PowerState }),
      containerId: t.id(),
    }),
  });

  builder.queryField('virtualMachines', (t) =>
    t.connection({
      type: refs.VirtualMachine,
      args: { filter: t.arg({ type: Filter }) },
      resolve: (_root, args, ctx) => {
        const f = args.filter ?? {};
        const policyId = optionalId(f.policyId, 'StoragePolicy', 'filter.policyId');
        const containerId = optionalId(f.containerId, 'StorageContainer', 'filter.containerId');
        const where = and(
          f.name ? eq(virtualMachines.name, f.name) : undefined,
          f.nameContains ? ilike(virtualMachines.name, like(f.nameContains)) : undefined,
          policyId ? eq(virtualMachines.policyId, policyId) : undefined,
          f.powerState ? eq(virtualMachines.powerState, f.powerState) : undefined,
          containerId ? eq(virtualMachines.containerId, containerId) : undefined,
        );
        return tablePage(ctx.services.core.db, virtualMachines, [virtualMachines.name, virtualMachines.id], where, args);
      },
    }),
  );

  const DiskInput = builder.inputType('VirtualDiskInput', {
    fields: (t) => ({
      sizeBytes: t.field({ type: 'Bytes', required: true, validate: sizeBytes }),
      policyId: t.id({ description: 'The disk\'s own policy; the VM\'s if omitted.' }),
    }),
  });
  const vmPayload = (t: any) => ({ virtualMachine: t.field({ type: refs.VirtualMachine, resolve: (p: any) => p.virtualMachine }) });
  const vmAndTask = (t: any) => ({ ...vmPayload(t), task: t.field({ type: refs.Task, resolve: (p: any) => p.task }) });
  const vmId = (input: { id?: unknown; vmId?: unknown }, field = 'input.id') => decodeId(String(input.id ?? input.vmId), ['VirtualMachine'], field).id;

  refs.mutation({
    name: 'createVirtualMachine',
    description: 'Creates a VM with its CONFIG VVOL and one DATA VVOL per disk, on the container placement picks (or the one given), reserving their capacity.',
    scope: 'vmAdmin',
    input: (t) => ({
      name: t.string({ required: true, validate: vmName }),
      host: t.string({ validate: z.string().min(1).max(120) }),
      policyId: t.id({ required: true }),
      containerId: t.id(),
      memoryBytes: t.field({ type: 'Bytes', validate: sizeBytes, description: 'Sizes the SWAP VVOL (default 4 GiB).' }),
      disks: t.field({ type: [DiskInput], required: true, validate: z.array(z.any()).min(1, 'a VM needs at least one disk').max(64, 'at most 64 disks') }),
    }),
    payload: vmPayload,
    resolve: async (input, work, ctx) => ({
      virtualMachine: await createVirtualMachine(ctx.services.core, work, {
        ...input,
        policyId: decodeId(String(input.policyId), ['StoragePolicy'], 'input.policyId').id,
        containerId: optionalId(input.containerId, 'StorageContainer', 'input.containerId'),
        disks: input.disks.map((d: { sizeBytes: number; policyId?: string }, i: number) => ({ sizeBytes: d.sizeBytes, policyId: optionalId(d.policyId, 'StoragePolicy', `input.disks.${i}.policyId`) })),
      }),
    }),
  });

  refs.mutation<{ deletedId: string }>({
    name: 'deleteVirtualMachine',
    description: 'Deletes a powered-off VM with all its VVOLs and snapshots, releasing their capacity.',
    scope: 'vmAdmin',
    input: (t) => ({ id: t.id({ required: true }) }),
    payload: (t) => ({ deletedId: t.id({ resolve: (p) => p.deletedId }) }),
    resolve: async (input, work, ctx) => {
      await deleteVirtualMachine(ctx.services.core, work, vmId(input));
      return { deletedId: String(input.id) };
    },
  });

  refs.mutation({
    name: 'powerOnVirtualMachine',
    description: 'Creates the SWAP VVOL and binds every VVOL of the VM to a protocol endpoint of its array.',
    scope: 'vmAdmin',
    input: (t) => ({ id: t.id({ required: true }) }),
    payload: vmPayload,
    resolve: async (input, work, ctx) => ({ virtualMachine: await powerOn(ctx.services.core, work, vmId(input)) }),
  });

  refs.mutation({
    name: 'powerOffVirtualMachine',
    description: 'Unbinds every VVOL of the VM and removes its SWAP VVOL.',
    scope: 'vmAdmin',
    input: (t) => ({ id: t.id({ required: true }) }),
    payload: vmPayload,
    resolve: async (input, work, ctx) => ({ virtualMachine: await powerOff(ctx.services.core, work, vmId(input)) }),
  });

  refs.mutation<{ snapshot: Rows['Snapshot'] }>({
    name: 'snapshotVirtualMachine',
    description: 'A VM-consistent snapshot: one SNAPSHOT VVOL per disk sharing its extents, taken at one instant (and a MEMORY VVOL withMemory).',
    scope: 'vmAdmin',
    input: (t) => ({
      vmId: t.id({ required: true }),
      name: t.string({ required: true, validate: vmName }),
      description: t.string({ validate: z.string().max(1000) }),
      withMemory: t.boolean(),
    }),
    payload: (t) => ({ snapshot: t.field({ type: refs.Snapshot, resolve: (p) => p.snapshot }) }),
    resolve: async (input, work, ctx) => ({ snapshot: await snapshotVm(ctx.services.core, work, { ...input, vmId: vmId(input, 'input.vmId') }) }),
  });

  refs.mutation({
    name: 'revertVirtualMachine',
    description: 'Reverts every disk of the VM to a snapshot of that VM.',
    scope: 'vmAdmin',
    input: (t) => ({ vmId: t.id({ required: true }), snapshotId: t.id({ required: true }) }),
    payload: vmAndTask,
    resolve: async (input, work, ctx) => {
      const { vm, task } = await revertVm(ctx.services.core, work, vmId(input, 'input.vmId'), decodeId(String(input.snapshotId), ['Snapshot'], 'input.snapshotId').id);
      return { virtualMachine: vm, task };
    },
  });

  refs.mutation<{ deletedId: string }>({
    name: 'deleteSnapshot',
    description: 'Deletes a snapshot and the VVOLs that held it.',
    scope: 'vmAdmin',
    input: (t) => ({ snapshotId: t.id({ required: true }) }),
    payload: (t) => ({ deletedId: t.id({ resolve: (p) => p.deletedId }) }),
    resolve: async (input, work, ctx) => {
      await deleteSnapshot(ctx.services.core, work, decodeId(String(input.snapshotId), ['Snapshot'], 'input.snapshotId').id);
      return { deletedId: String(input.snapshotId) };
    },
  });

  refs.mutation({
    name: 'cloneVirtualMachine',
    description: 'Clones a VM as of now. FAST shares extents (done at once); FULL copies them at the array\'s internal bandwidth (follow the task).',
    scope: 'vmAdmin',
    input: (t) => ({
      vmId: t.id({ required: true }),
      name: t.string({ required: true, validate: vmName }),
      mode: t.field({ type: enums.CloneMode, required: true }),
      containerId: t.id({ description: 'FULL clones only: where to put the clone (placement picks otherwise).' }),
      policyId: t.id({ description: 'The clone\'s policy; the source\'s if omitted.' }),
    }),
    payload: vmAndTask,
    resolve: async (input, work, ctx) => {
      const { vm, task } = await cloneVm(ctx.services.core, work, {
        vmId: vmId(input, 'input.vmId'),
        name: input.name,
        mode: input.mode,
        containerId: optionalId(input.containerId, 'StorageContainer', 'input.containerId'),
        policyId: optionalId(input.policyId, 'StoragePolicy', 'input.policyId'),
      });
      return { virtualMachine: vm, task };
    },
  });
  const BurstInput = builder.inputType('WorkloadBurstInput', {
    fields: (t) => ({
      periodSeconds: t.int({ required: true, validate: z.number().int().min(1, 'periodSeconds must be at least 1').max(86_400) }),
      dutyCycle: t.float({ required: true, validate: z.number().gt(0, 'dutyCycle must be above 0').max(1, 'dutyCycle must be at most 1') }),
      multiplier: t.float({ required: true, validate: z.number().min(1, 'multiplier must be at least 1').max(1000) }),
    }),
  });
  const ratio = (name: string) => z.number().min(0, `${name} must be at least 0`).max(1, `${name} must be at most 1`);
  const iops = (name: string) => z.number().int(`${name} must be an integer`).min(0, `${name} must not be negative`).max(1_000_000, `${name} must be at most 1,000,000`);
  const CustomInput = builder.inputType('CustomWorkloadInput', {
    fields: (t) => ({
      readIops: t.int({ required: true, validate: iops('readIops') }),
      writeIops: t.int({ required: true, validate: iops('writeIops') }),
      blockSizeBytes: t.int({ required: true, validate: z.number().int().min(512, 'blockSizeBytes must be at least 512').max(1_048_576, 'blockSizeBytes must be at most 1 MiB').refine((n) => (n & (n - 1)) === 0, 'blockSizeBytes must be a power of two') }),
      randomRatio: t.float({ required: true, validate: ratio('randomRatio') }),
      zipfAlpha: t.float({ required: true, validate: z.number().gt(0, 'zipfAlpha must be above 0').max(5, 'zipfAlpha must be at most 5') }),
      workingSetRatio: t.float({ required: true, validate: z.number().gt(0, 'workingSetRatio must be above 0').max(1, 'workingSetRatio must be at most 1') }),
      burst: t.field({ type: BurstInput }),
    }),
  });

  refs.mutation<{ virtualMachine: Rows['VirtualMachine'] }>({
    name: 'setWorkload',
    description: 'Sets the synthetic I/O profile the simulated array runs for a VM: a preset or a custom profile.',
    scope: 'vmAdmin',
    input: (t) => ({
      vmId: t.id({ required: true }),
      preset: t.field({ type: enums.WorkloadPreset, description: 'A preset (not CUSTOM); or give custom.' }),
      custom: t.field({ type: CustomInput }),
    }),
    payload: vmPayload,
    resolve: async (input, work) => {
      const id = vmId(input, 'input.vmId');
      if ((input.preset == null) === (input.custom == null)) throw new ValidationError('input.preset', 'Give either preset or custom, not both or neither');
      if (input.preset === 'CUSTOM') throw new ValidationError('input.preset', 'CUSTOM is not a preset: give the profile in custom');
      const profile: WorkloadProfile = input.custom ? { preset: 'CUSTOM', burst: null, ...input.custom } : presets[input.preset as keyof typeof presets];
      await setWorkload(work, id, profile);
      return { virtualMachine: await findVm(work.tx, id, 'input.vmId') };
    },
  });

  return { Compliance };
}
