import { and, eq, isNull } from 'drizzle-orm';
import { virtualVolumes } from '../../core/db/tables.ts';
import type { ExtentRange } from '../../core/extents.ts';
import { addDisk, applyPolicy, deleteVolume, findVvol, resizeVvol } from '../../core/services/vms.ts';
import { loadAll } from '../loaders.ts';
import type { Builder } from '../builder.ts';
import { tablePage } from '../connections.ts';
import { decodeId, type Rows, type SchemaRefs } from '../refs.ts';
import type { Enums } from './enums.ts';
import { sizeBytes, type addVirtualMachines } from './vms.ts';

const optionalId = (id: unknown, type: string, field: string) => (id ? decodeId(String(id), [type], field).id : null);

export function addVirtualVolumes(builder: Builder, refs: SchemaRefs, enums: Enums, { Compliance }: ReturnType<typeof addVirtualMachines>): void {
  const Extent = builder.objectRef<ExtentRange>('ExtentRange').implement({
    description: 'A written extent: a byte range and the content id its data has now.',
    fields: (t) => ({
      index: t.exposeInt('index'),
      offsetBytes: t.expose('offsetBytes', { type: 'Bytes' }),
      lengthBytes: t.expose('lengthBytes', { type: 'Bytes' }),
      contentId: t.string({ description: '64-bit content id, hex. Two extents with the same id hold the same data.', resolve: (e) => BigInt.asUintN(64, e.contentId).toString(16).padStart(16, '0') }),
    }),
  });
  const Metadata = builder.objectRef<[string, string]>('MetadataEntry').implement({
    fields: (t) => ({ key: t.string({ resolve: (e) => e[0] }), value: t.string({ resolve: (e) => e[1] }) }),
  });
  const window = (t: any) => ({
    offsetBytes: t.arg({ type: 'Bytes', description: 'Start of the segment (default 0).' }),
    lengthBytes: t.arg({ type: 'Bytes', description: 'Length of the segment (default: to the end).' }),
  });
  const segment = (args: { offsetBytes?: unknown; lengthBytes?: unknown }, provisioned: number) =>
    args.offsetBytes == null && args.lengthBytes == null ? undefined : { offsetBytes: Number(args.offsetBytes ?? 0), lengthBytes: Number(args.lengthBytes ?? provisioned) };

  builder.node(refs.VirtualVolume, {
    id: { resolve: (v) => v.id },
    loadMany: (ids, ctx) => loadAll(ctx.loaders.vvols, ids),
    fields: (t) => ({
      vasaId: t.exposeString('id', { description: 'The VASA VVOL id (uuid).' }),
      type: t.expose('type', { type: enums.VirtualVolumeType }),
      virtualMachine: t.field({ type: refs.VirtualMachine, nullable: true, resolve: (v, _args, ctx) => (v.vmId ? ctx.loaders.vms.load(v.vmId) : null) }),
      storageContainer: t.field({ type: refs.StorageContainer, resolve: async (v, _args, ctx) => (await ctx.loaders.containers.load(v.containerId))! }),
      storagePolicy: t.field({ type: refs.StoragePolicy, resolve: async (v, _args, ctx) => (await ctx.loaders.policies.load(v.policyId))! }),
      policyState: t.expose('policyState', { type: enums.PolicyState }),
      policyGeneration: t.exposeInt('policyGeneration', { description: 'The policy generation this VVOL has reached (or, when INFEASIBLE, last tried).' }),
      policyReason: t.exposeString('policyReason', { nullable: true, description: 'Why the policy is INFEASIBLE (or what is IN_PROGRESS).' }),
      compliance: t.field({ type: Compliance, resolve: (v, _args, ctx) => ctx.loaders.compliance.load(v) }),
      provisionedBytes: t.expose('provisionedBytes', { type: 'Bytes' }),
      allocatedBytes: t.expose('allocatedBytes', { type: 'Bytes', description: 'Bytes of written extents.' }),
      uniqueBytes: t.field({ type: 'Bytes', description: 'Bytes no other VVOL shares: for snapshots and fast clones, what differs from the parent.', resolve: (v, _args, ctx) => ctx.loaders.uniqueBytes.load(v.id) }),
      contentDigest: t.exposeString('contentDigest', { description: 'Hash of the extent map: equal digests, equal data.' }),
      bindState: t.expose('bindState', { type: enums.BindState }),
      protocolEndpoint: t.field({ type: refs.ProtocolEndpoint, nullable: true, resolve: (v, _args, ctx) => (v.protocolEndpointId ? ctx.loaders.protocolEndpoints.load(v.protocolEndpointId) : null) }),
      origin: t.expose('origin', { type: enums.VolumeOrigin }),
      parent: t.field({ type: refs.VirtualVolume, nullable: true, resolve: (v, _args, ctx) => (v.parentId ? ctx.loaders.vvols.load(v.parentId) : null) }),
      snapshot: t.field({ type: refs.Snapshot, nullable: true, resolve: (v, _args, ctx) => (v.snapshotId ? ctx.loaders.snapshots.load(v.snapshotId) : null) }),
      metadata: t.field({ type: [Metadata], description: 'VASA key/value metadata.', resolve: (v) => Object.entries(v.metadata) }),
      allocatedExtents: t.field({
        type: [Extent],
        description: 'VASA allocatedBitmap: the written extents, optionally within a segment.',
        args: window(t),
        resolve: (v, args, ctx) => ctx.services.core.extents.allocated(ctx.services.core.db, v.id, v.provisionedBytes, segment(args, v.provisionedBytes)),
      }),
      unsharedExtents: t.field({
        type: [Extent],
        description: 'VASA unsharedBitmap: extents whose data baseId does not hold (what an incremental backup reads).',
        args: { baseId: t.arg.id({ required: true }), ...window(t) },
        resolve: async (v, args, ctx) => {
          const base = await findVvol(ctx.services.core.db, decodeId(String(args.baseId), ['VirtualVolume'], 'baseId').id, 'baseId');
          return ctx.services.core.extents.unshared(ctx.services.core.db, v.id, base.id, v.provisionedBytes, segment(args, v.provisionedBytes));
        },
      }),
      createdAt: t.expose('createdAt', { type: 'DateTime' }),
    }),
  });

  const Filter = builder.inputType('VirtualVolumeFilter', {
    fields: (t) => ({
      type: t.field({ type: enums.VirtualVolumeType }),
      vmId: t.id(),
      containerId: t.id(),
      policyId: t.id(),
      bindState: t.field({ type: enums.BindState }),
      policyState: t.field({ type: enums.PolicyState }),
      includeSnapshots: t.boolean({ description: 'Include the VVOLs that hold snapshots (default false).' }),
    }),
  });

  builder.queryField('virtualVolumes', (t) =>
    t.connection({
      type: refs.VirtualVolume,
      args: { filter: t.arg({ type: Filter }) },
      resolve: (_root, args, ctx) => {
        const f = args.filter ?? {};
        const vmId = optionalId(f.vmId, 'VirtualMachine', 'filter.vmId');
        const containerId = optionalId(f.containerId, 'StorageContainer', 'filter.containerId');
        const policyId = optionalId(f.policyId, 'StoragePolicy', 'filter.policyId');
        const where = and(
          f.type ? eq(virtualVolumes.type, f.type) : undefined,
          vmId ? eq(virtualVolumes.vmId, vmId) : undefined,
          containerId ? eq(virtualVolumes.containerId, containerId) : undefined,
          policyId ? eq(virtualVolumes.policyId, policyId) : undefined,
          f.bindState ? eq(virtualVolumes.bindState, f.bindState) : undefined,
          f.policyState ? eq(virtualVolumes.policyState, f.policyState) : undefined,
          f.includeSnapshots ? undefined : isNull(virtualVolumes.snapshotId),
        );
        return tablePage(ctx.services.core.db, virtualVolumes, [virtualVolumes.createdAt, virtualVolumes.id], where, args);
      },
    }),
  );

  refs.mutation<{ virtualVolume: Rows['VirtualVolume'] }>({
    name: 'addVirtualDisk',
    description: 'Adds a disk (a DATA VVOL) to a VM, in the VM\'s container; bound at once if the VM is running.',
    scope: 'vmAdmin',
    input: (t) => ({
      vmId: t.id({ required: true }),
      sizeBytes: t.field({ type: 'Bytes', required: true, validate: sizeBytes }),
      policyId: t.id(),
    }),
    payload: (t) => ({
      virtualVolume: t.field({ type: refs.VirtualVolume, resolve: (p) => p.virtualVolume }),
      virtualMachine: t.field({ type: refs.VirtualMachine, resolve: async (p, _args, ctx) => (await ctx.loaders.vms.load(p.virtualVolume.vmId!))! }),
    }),
    resolve: async (input, work, ctx) => ({
      virtualVolume: await addDisk(ctx.services.core, work, decodeId(String(input.vmId), ['VirtualMachine'], 'input.vmId').id, {
        sizeBytes: input.sizeBytes,
        policyId: optionalId(input.policyId, 'StoragePolicy', 'input.policyId'),
      }),
    }),
  });

  refs.mutation<{ virtualMachine: Rows['VirtualMachine'] | null; deletedId: string }>({
    name: 'deleteVirtualVolume',
    description: 'VASA deleteVirtualVolume: deletes a VM\'s disk (taken from the VM, running or not; not while the VM has snapshots, nor its only disk) or a volume of no VM (an RV left by unpair; not one in a pair, nor a backup or point-in-time copy). Its space is given back and the replicas a policy made of it go with it.',
    scope: 'vmAdmin',
    input: (t) => ({ id: t.id({ required: true, description: 'A DATA VVOL of a VM, or a volume of no VM.' }) }),
    payload: (t) => ({
      virtualMachine: t.field({ type: refs.VirtualMachine, nullable: true, description: 'The VM the disk was taken from; null for a volume of no VM.', resolve: (p) => p.virtualMachine }),
      deletedId: t.id({ resolve: (p) => p.deletedId }),
    }),
    resolve: async (input, work, ctx) => ({
      virtualMachine: await deleteVolume(ctx.services.core, work, decodeId(String(input.id), ['VirtualVolume'], 'input.id').id),
      deletedId: String(input.id),
    }),
  });

  refs.mutation<{ virtualVolume: Rows['VirtualVolume'] }>({
    name: 'resizeVirtualVolume',
    description: 'Grows a DATA VVOL (VASA does not shrink).',
    scope: 'vmAdmin',
    input: (t) => ({ id: t.id({ required: true }), sizeBytes: t.field({ type: 'Bytes', required: true, validate: sizeBytes }) }),
    payload: (t) => ({ virtualVolume: t.field({ type: refs.VirtualVolume, resolve: (p) => p.virtualVolume }) }),
    resolve: async (input, work) => ({
      virtualVolume: await resizeVvol(work, decodeId(String(input.id), ['VirtualVolume'], 'input.id').id, input.sizeBytes),
    }),
  });

  refs.mutation<{ virtualVolumes: Rows['VirtualVolume'][] }>({
    name: 'applyStoragePolicy',
    description: 'Puts a VM (all its VVOLs) or one VVOL under a policy, at any time. Each VVOL goes PENDING, then APPLIED or INFEASIBLE, live.',
    scope: 'vmAdmin',
    input: (t) => ({ targetId: t.id({ required: true, description: 'A VirtualMachine or VirtualVolume id.' }), policyId: t.id({ required: true }) }),
    payload: (t) => ({ virtualVolumes: t.field({ type: [refs.VirtualVolume], resolve: (p) => p.virtualVolumes }) }),
    resolve: async (input, work) => {
      const target = decodeId(String(input.targetId), ['VirtualMachine', 'VirtualVolume'], 'input.targetId');
      const policyId = decodeId(String(input.policyId), ['StoragePolicy'], 'input.policyId').id;
      const vvols = await applyPolicy(work, target.typename === 'VirtualMachine' ? { vmId: target.id } : { vvolId: target.id }, policyId);
      return { virtualVolumes: vvols };
    },
  });
}
