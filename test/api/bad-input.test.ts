import { encodeGlobalID } from '@pothos/plugin-relay';
import { getNamedType, isEnumType, type GraphQLInputObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GiB, seedBasics, startApp, type TestApp } from '../helpers/app.ts';
import { arrayId, b64, backupGeneration, clone, createPolicy, createVm, deletedVmId, fingerprint, localPair, mutate, ok, replicationGroup, snapshot, writeExtents, type CreatedVm } from './support.ts';

const TiB = 1024 * GiB;

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;
let loadedPlugins = new Set<string>();

/** Objects the bad inputs point at, made once. */
interface Fixtures {
  /** BRONZE, powered off, on tokyo-gold (max VVOL 16 TiB), one 10 GiB disk, one snapshot. */
  off: CreatedVm;
  offSnapshot: { id: string; vvols: string[] };
  /** BRONZE, powered on (its second power-on is the conflict). */
  on: CreatedVm;
  /** Another VM with a snapshot of its own. */
  other: CreatedVm;
  otherSnapshot: { id: string; vvols: string[] };
  /** GOLD, on tokyo-gold: cannot go to osaka-bulk. */
  gold: CreatedVm;
  /** A policy no container can satisfy: LARGE capacity and HIGH performance. */
  impossible: string;
  /** An unused policy whose rules the failed updates must leave alone. */
  editable: string;
  deletedVm: string;
  deletedPolicy: string;
  deletedSnapshot: string;
  finishedTask: string;
  /** DDR pairs of `other`'s disk: never replicated, SEPARATED; and of `off`'s disk, replicated, RPL_SYNC. */
  separatedPair: string;
  /** The RV of separatedPair: a copy, resized only with its MV. */
  separatedRv: string;
  /** A policy without rules: every container's capabilities pass it. */
  rulelessPolicy: string;
  syncedPair: string;
  /** A pair that was unpaired. */
  deletedPair: string;
  /** The SWAP VVOL of `on`. */
  onSwap: string;
  /** A VM on the other array than `other`'s (and so than its separated pair's RV). */
  elsewhereVm: string;
  /** dds: a generation pruned by retention, an AVAILABLE one of a powered-on VM, and one still RUNNING. */
  prunedGeneration: string;
  poweredOnGeneration: string;
  runningGeneration: string;
  /** The VM whose backup is RUNNING. */
  runningVm: string;
  /** The clone a FULL clone is still filling: started last, so it stays RUNNING. */
  fillingVm: string;
  /** The DATA VVOL of `fillingVm`. */
  fillingDisk: string;
  /** rdr: array ids, a group never synced (SOURCE/TARGET, no point in time) and one failed over. */
  tokyoArray: string;
  osakaArray: string;
  backupArray: string;
  freshGroup: string;
  failedOverGroup: string;
  /** A 1 GiB DATA volume at OSAKA: too small to be the RV of `off`'s 10 GiB disk. */
  osakaSmallDisk: string;
}
let f: Fixtures;

beforeAll(async () => {
  app = await startApp();
  ids = await seedBasics(app);
  loadedPlugins = new Set((await app.query('{ plugins { name } }')).plugins.map((p: { name: string }) => p.name));
  const off = await createVm(app, ids.policies.BRONZE, { name: 'off', disks: [10 * GiB], containerId: ids.containers['tokyo-gold'] });
  const other = await createVm(app, ids.policies.BRONZE, { name: 'other' });
  const deletedSnapshot = await snapshot(app, other.id);
  await ok(app, 'deleteSnapshot', { snapshotId: deletedSnapshot.id }, '... on DeleteSnapshotPayload { deletedId }');
  const deletedPolicy = await createPolicy(app);
  await ok(app, 'deleteStoragePolicy', { id: deletedPolicy }, '... on DeleteStoragePolicyPayload { deletedId }');
  const gold = await createVm(app, ids.policies.GOLD, { name: 'gold' });
  expect(gold.container).toBe('tokyo-gold');
  f = {
    off,
    offSnapshot: await snapshot(app, off.id),
    on: await createVm(app, ids.policies.BRONZE, { name: 'on', powerOn: true }),
    other,
    otherSnapshot: await snapshot(app, other.id),
    gold,
    impossible: await createPolicy(app, [{ capabilityId: 'vasa.capacityClass', value: 'LARGE' }, { capabilityId: 'vasa.performanceClass', value: 'HIGH' }], 'impossible'),
    editable: await createPolicy(app, [{ capabilityId: 'vasa.snapshot', value: true }], 'editable'),
    deletedVm: await deletedVmId(app, ids.policies.BRONZE),
    deletedPolicy,
    deletedSnapshot: deletedSnapshot.id,
    finishedTask: (await clone(app, other.id, 'FAST')).taskId,
    separatedPair: loadedPlugins.has('ddr') ? await localPair(app, other.disks[0]) : '',
    syncedPair: loadedPlugins.has('ddr') ? await localPair(app, off.disks[0], true) : '',
    deletedPair: '',
    separatedRv: '',
    onSwap: '',
    elsewhereVm: (await createVm(app, ids.policies.BRONZE, { name: 'elsewhere', containerId: ids.containers[other.container.startsWith('tokyo') ? 'osaka-bulk' : 'tokyo-bulk'] })).id,
    prunedGeneration: '',
    poweredOnGeneration: '',
    runningGeneration: '',
    runningVm: '',
    fillingVm: '',
    fillingDisk: '',
    rulelessPolicy: await createPolicy(app, [], 'ruleless'),
    tokyoArray: await arrayId(app, 'tokyo-m510'),
    osakaArray: await arrayId(app, 'osaka-m310'),
    backupArray: await arrayId(app, 'osaka-hs'),
    freshGroup: loadedPlugins.has('rdr') ? (await replicationGroup(app, ids.policies.BRONZE, ids.containers['tokyo-gold'])).groupId : '',
    osakaSmallDisk: (await createVm(app, ids.policies.BRONZE, { name: 'osaka-small', containerId: ids.containers['osaka-bulk'] })).disks[0],
    failedOverGroup: loadedPlugins.has('rdr') ? (await replicationGroup(app, ids.policies.BRONZE, ids.containers['tokyo-gold'], 'FAILEDOVER')).groupId : '',
  };
  const { node: on } = await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { virtualVolumes { id type } } } }`, { id: f.on.id });
  f.onSwap = on.virtualVolumes.find((v: any) => v.type === 'SWAP').id;
  if (f.separatedPair) f.separatedRv = (await app.query(`query($id: ID!) { node(id: $id) { ... on ReplicaPair { replicaVolume { id } } } }`, { id: f.separatedPair })).node.replicaVolume.id;
  if (loadedPlugins.has('ddr')) {
    const doomed = await localPair(app, (await createVm(app, ids.policies.BRONZE, { name: 'doomed' })).disks[0]);
    await ok(app, 'unpair', { pairId: doomed }, '... on UnpairPayload { unpairedId }');
    f.deletedPair = doomed;
  }
  if (loadedPlugins.has('dds')) {
    // Keep one generation: the second backup prunes the first. The schedule takes none in between (a day apart).
    const keepOne = await createPolicy(app, [{ capabilityId: 'nec.dds.backup', value: true }, { capabilityId: 'nec.dds.generations', value: 1 }], 'dds-keep-one');
    const backedUp = await createVm(app, keepOne, { name: 'backed-up' });
    f.prunedGeneration = await backupGeneration(app, backedUp.id, true);
    f.poweredOnGeneration = await backupGeneration(app, backedUp.id, true);
    await ok(app, 'powerOnVirtualMachine', { id: backedUp.id }, '... on PowerOnVirtualMachinePayload { virtualMachine { id } }');
    // Started last: nothing moves the clock after it, so it stays RUNNING.
    f.runningVm = (await createVm(app, ids.policies.BRONZE, { name: 'backing-up' })).id;
    f.runningGeneration = await backupGeneration(app, f.runningVm);
  }
  const filled = await createVm(app, ids.policies.BRONZE, { name: 'clone-source' });
  await writeExtents(app, filled.disks[0], [0, 1, 2, 3]);
  f.fillingVm = (await clone(app, filled.id, 'FULL')).vmId;
  f.fillingDisk = (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { disks { virtualVolume { id } } } } }`, { id: f.fillingVm })).node.disks[0].virtualVolume.id;
});
afterAll(() => app?.close());

type Expected =
  | { __typename: 'ValidationError'; field: string; message?: RegExp }
  | { __typename: 'NotFoundError'; field: string }
  | { __typename: 'ConflictError'; currentState: string | null }
  | { __typename: 'CapacityError'; check?: (error: any) => void };

interface Case {
  mutation: string;
  title: string;
  input: () => Record<string, unknown>;
  expected: Expected;
  /** Only when this plugin is loaded. */
  plugin?: string;
}

const disk = (sizeBytes: unknown, extra: Record<string, unknown> = {}) => ({ sizeBytes, ...extra });
const newVm = (extra: Record<string, unknown>) => ({ name: 'bad-vm', policyId: ids.policies.BRONZE, disks: [disk(GiB)], ...extra });
const policy = (rules: { capabilityId: string; value: unknown }[], name = 'bad-policy') => ({ name, rules });
const invalid = (field: string, message?: RegExp): Expected => ({ __typename: 'ValidationError', field, message });
const notFound = (field: string): Expected => ({ __typename: 'NotFoundError', field });
const conflict = (currentState: string | null): Expected => ({ __typename: 'ConflictError', currentState });

/** Ids that name no object of the type a field takes: malformed, of a made-up type, of another type, of a deleted object. */
const badIds = (deleted: () => string, otherType: () => string) => [
  { what: 'garbage', id: () => 'garbage' },
  { what: 'a base64 of "Foo:bar"', id: () => b64('Foo:bar') },
  { what: 'an id of another type', id: otherType },
  { what: 'a well-formed id of a deleted object', id: deleted },
];

const cases: Case[] = [
  // createVirtualMachine
  { mutation: 'createVirtualMachine', title: 'a zero-byte disk', input: () => newVm({ disks: [disk(0)] }), expected: invalid('input.disks.0.sizeBytes') },
  { mutation: 'createVirtualMachine', title: 'a negative second disk', input: () => newVm({ disks: [disk(GiB), disk(-GiB)] }), expected: invalid('input.disks.1.sizeBytes') },
  { mutation: 'createVirtualMachine', title: 'a fractional disk size', input: () => newVm({ disks: [disk(1.5)] }), expected: invalid('input.disks.0.sizeBytes') },
  { mutation: 'createVirtualMachine', title: 'a disk above every container\'s max VVOL size', input: () => newVm({ disks: [disk(63 * TiB)] }), expected: invalid('input.disks.0.sizeBytes', /maximum VVOL size/) },
  { mutation: 'createVirtualMachine', title: 'a disk above the chosen container\'s max VVOL size (16 TiB)', input: () => newVm({ containerId: ids.containers['tokyo-gold'], disks: [disk(17 * TiB)] }), expected: invalid('input.disks.0.sizeBytes', /maximum VVOL size/) },
  { mutation: 'createVirtualMachine', title: 'zero disks', input: () => newVm({ disks: [] }), expected: invalid('input.disks') },
  { mutation: 'createVirtualMachine', title: 'an empty name', input: () => newVm({ name: '' }), expected: invalid('input.name') },
  { mutation: 'createVirtualMachine', title: 'a blank name', input: () => newVm({ name: '   ' }), expected: invalid('input.name') },
  { mutation: 'createVirtualMachine', title: 'zero memory', input: () => newVm({ memoryBytes: 0 }), expected: invalid('input.memoryBytes') },
  ...badIds(() => f.deletedPolicy, () => ids.containers['tokyo-gold']).map(({ what, id }): Case => ({
    mutation: 'createVirtualMachine', title: `policyId: ${what}`, input: () => newVm({ policyId: id() }), expected: notFound('input.policyId'),
  })),
  { mutation: 'createVirtualMachine', title: 'policyId: a StoragePolicy id whose key is not a uuid', input: () => newVm({ policyId: b64('StoragePolicy:1') }), expected: notFound('input.policyId') },
  { mutation: 'createVirtualMachine', title: 'a disk\'s policyId: garbage', input: () => newVm({ disks: [disk(GiB), disk(GiB, { policyId: 'garbage' })] }), expected: notFound('input.disks.1.policyId') },
  { mutation: 'createVirtualMachine', title: 'a disk\'s policyId: a deleted policy', input: () => newVm({ disks: [disk(GiB, { policyId: f.deletedPolicy })] }), expected: notFound('input.disks.0.policyId') },
  ...badIds(() => encodeGlobalID('StorageContainer', '00000000-0000-4000-8000-000000000000'), () => ids.policies.GOLD).map(({ what, id }): Case => ({
    mutation: 'createVirtualMachine', title: `containerId: ${what}`, input: () => newVm({ containerId: id() }), expected: notFound('input.containerId'),
  })),
  {
    mutation: 'createVirtualMachine',
    title: 'a policy no container offers (LARGE capacity, HIGH performance): every container listed with the rule it fails',
    input: () => newVm({ policyId: f.impossible, disks: [disk(10 * GiB)] }),
    expected: {
      __typename: 'CapacityError',
      check: (error) => {
        expect(error.requestedBytes).toBe(4 * GiB + 10 * GiB); // the CONFIG VVOL and the disk
        const byName = Object.fromEntries(error.containers.map((c: any) => [c.containerName, c.failedRules]));
        expect(Object.keys(byName).sort()).toEqual(['osaka-bulk', 'osaka-gold', 'tokyo-bulk', 'tokyo-gold']);
        for (const [name, failed] of Object.entries<any[]>(byName)) {
          expect(failed.length, name).toBeGreaterThan(0);
          for (const rule of failed) {
            expect(rule.pass).toBe(false);
            expect(['vasa.capacityClass', 'vasa.performanceClass']).toContain(rule.capabilityId);
            expect(rule.reason).toMatch(/\S/);
          }
        }
        // The gold containers offer SMALL/MEDIUM capacity; the bulk ones MEDIUM/LOW performance.
        expect(byName['tokyo-gold'].map((r: any) => r.capabilityId)).toEqual(['vasa.capacityClass']);
        expect(byName['osaka-gold'].map((r: any) => r.capabilityId)).toEqual(['vasa.capacityClass']);
        expect(byName['tokyo-bulk'].map((r: any) => r.capabilityId)).toEqual(['vasa.performanceClass']);
        expect(byName['osaka-bulk'].map((r: any) => r.capabilityId)).toEqual(['vasa.performanceClass']);
        expect(error.containers.every((c: any) => typeof c.containerId === 'string' && c.containerId.length > 0)).toBe(true);
      },
    },
  },
  {
    mutation: 'createVirtualMachine',
    title: 'a container of the BACKUP array, whose rules a policy without rules cannot fail',
    input: () => newVm({ policyId: f.rulelessPolicy, containerId: ids.containers['osaka-backup'] }),
    expected: {
      __typename: 'CapacityError',
      check: (error) => expect(error.containers.flatMap((c: any) => c.failedRules.map((r: any) => r.capabilityId))).toEqual(['arrayRole']),
    },
  },
  {
    mutation: 'createVirtualMachine',
    title: 'disks needing more free space than any container has (8 x 60 TiB)',
    input: () => newVm({ disks: Array.from({ length: 8 }, () => disk(60 * TiB)) }),
    expected: {
      __typename: 'CapacityError',
      check: (error) => {
        expect(error.requestedBytes).toBe(4 * GiB + 480 * TiB);
        expect(error.containers.map((c: any) => c.containerName).sort()).toEqual(['osaka-bulk', 'osaka-gold', 'tokyo-bulk', 'tokyo-gold']);
        for (const container of error.containers) {
          const capacity = container.failedRules.find((r: any) => r.capabilityId === 'capacity');
          expect(capacity, container.containerName).toBeDefined();
          expect(capacity.pass).toBe(false);
          expect(capacity.reason).toMatch(/free/);
        }
        // 60 TiB VVOLs also exceed the gold containers' 16 TiB maximum.
        const gold = error.containers.find((c: any) => c.containerName === 'tokyo-gold');
        expect(gold.failedRules.map((r: any) => r.capabilityId)).toContain('maxVvolSize');
      },
    },
  },
  {
    mutation: 'createVirtualMachine',
    title: 'a container given that does not offer the policy (GOLD on osaka-bulk)',
    input: () => newVm({ policyId: ids.policies.GOLD, containerId: ids.containers['osaka-bulk'] }),
    expected: {
      __typename: 'CapacityError',
      check: (error) => {
        expect(error.containers.map((c: any) => c.containerName)).toEqual(['osaka-bulk']);
        expect(error.containers[0].failedRules.map((r: any) => r.capabilityId)).toContain('vasa.performanceClass');
      },
    },
  },

  // addVirtualDisk
  { mutation: 'addVirtualDisk', title: 'zero bytes', input: () => ({ vmId: f.off.id, sizeBytes: 0 }), expected: invalid('input.sizeBytes') },
  { mutation: 'addVirtualDisk', title: 'negative bytes', input: () => ({ vmId: f.off.id, sizeBytes: -GiB }), expected: invalid('input.sizeBytes') },
  { mutation: 'addVirtualDisk', title: 'a fractional size', input: () => ({ vmId: f.off.id, sizeBytes: GiB + 0.5 }), expected: invalid('input.sizeBytes') },
  { mutation: 'addVirtualDisk', title: 'above the VM\'s container max VVOL size', input: () => ({ vmId: f.off.id, sizeBytes: 17 * TiB }), expected: invalid('input.sizeBytes', /maximum VVOL size/) },
  ...badIds(() => f.deletedVm, () => f.off.disks[0]).map(({ what, id }): Case => ({
    mutation: 'addVirtualDisk', title: `vmId: ${what}`, input: () => ({ vmId: id(), sizeBytes: GiB }), expected: notFound('input.vmId'),
  })),
  { mutation: 'addVirtualDisk', title: 'policyId: a deleted policy', input: () => ({ vmId: f.off.id, sizeBytes: GiB, policyId: f.deletedPolicy }), expected: notFound('input.policyId') },
  {
    mutation: 'addVirtualDisk',
    title: 'a disk policy the VM\'s container cannot offer',
    input: () => ({ vmId: f.off.id, sizeBytes: GiB, policyId: f.impossible }),
    expected: { __typename: 'CapacityError', check: (error) => expect(error.containers.map((c: any) => c.containerName)).toEqual(['tokyo-gold']) },
  },

  // deleteVirtualVolume
  { mutation: 'deleteVirtualVolume', title: 'a disk of a VM with snapshots', input: () => ({ id: f.off.disks[0] }), expected: conflict('HAS_SNAPSHOTS') },
  { mutation: 'deleteVirtualVolume', title: 'a disk of a VM a FULL clone is still filling (checked before it is its only disk)', input: () => ({ id: f.fillingDisk }), expected: conflict('BUSY') },
  { mutation: 'deleteVirtualVolume', title: 'a VM\'s only disk', input: () => ({ id: f.on.disks[0] }), expected: invalid('input.id', /only disk/) },
  { mutation: 'deleteVirtualVolume', title: 'a SWAP VVOL', input: () => ({ id: f.onSwap }), expected: invalid('input.id', /SWAP/) },
  { mutation: 'deleteVirtualVolume', title: 'a CONFIG VVOL', input: () => ({ id: f.on.config }), expected: invalid('input.id', /CONFIG/) },
  { mutation: 'deleteVirtualVolume', plugin: 'ddr', title: 'an RV of no VM still in its pair', input: () => ({ id: f.separatedRv }), expected: conflict('PAIRED') },
  { mutation: 'deleteVirtualVolume', title: 'id: a VM id', input: () => ({ id: f.on.id }), expected: notFound('input.id') },
  { mutation: 'deleteVirtualVolume', title: 'id: garbage', input: () => ({ id: 'garbage' }), expected: notFound('input.id') },

  // resizeVirtualVolume
  { mutation: 'resizeVirtualVolume', title: 'zero bytes', input: () => ({ id: f.off.disks[0], sizeBytes: 0 }), expected: invalid('input.sizeBytes') },
  { mutation: 'resizeVirtualVolume', title: 'negative bytes', input: () => ({ id: f.off.disks[0], sizeBytes: -1 }), expected: invalid('input.sizeBytes') },
  { mutation: 'resizeVirtualVolume', title: 'a fractional size', input: () => ({ id: f.off.disks[0], sizeBytes: 20 * GiB + 0.25 }), expected: invalid('input.sizeBytes') },
  { mutation: 'resizeVirtualVolume', title: 'smaller than now', input: () => ({ id: f.off.disks[0], sizeBytes: 5 * GiB }), expected: invalid('input.sizeBytes', /does not shrink/) },
  { mutation: 'resizeVirtualVolume', title: 'above the container\'s max VVOL size', input: () => ({ id: f.off.disks[0], sizeBytes: 17 * TiB }), expected: invalid('input.sizeBytes', /maximum VVOL size/) },
  { mutation: 'resizeVirtualVolume', title: 'a CONFIG VVOL', input: () => ({ id: f.off.config, sizeBytes: 8 * GiB }), expected: invalid('input.id') },
  { mutation: 'resizeVirtualVolume', plugin: 'ddr', title: 'a replica volume (it grows with its MV)', input: () => ({ id: f.separatedRv, sizeBytes: 20 * GiB }), expected: invalid('input.id', /copy of another volume/) },
  { mutation: 'resizeVirtualVolume', title: 'a snapshot\'s VVOL', input: () => ({ id: f.offSnapshot.vvols[0], sizeBytes: 20 * GiB }), expected: invalid('input.id') },
  ...badIds(() => encodeGlobalID('VirtualVolume', '00000000-0000-4000-8000-000000000000'), () => f.off.id).map(({ what, id }): Case => ({
    mutation: 'resizeVirtualVolume', title: `id: ${what}`, input: () => ({ id: id(), sizeBytes: 20 * GiB }), expected: notFound('input.id'),
  })),

  // applyStoragePolicy
  ...badIds(() => f.deletedVm, () => ids.policies.GOLD).map(({ what, id }): Case => ({
    mutation: 'applyStoragePolicy', title: `targetId: ${what}`, input: () => ({ targetId: id(), policyId: ids.policies.SILVER }), expected: notFound('input.targetId'),
  })),
  ...badIds(() => f.deletedPolicy, () => f.off.id).map(({ what, id }): Case => ({
    mutation: 'applyStoragePolicy', title: `policyId: ${what}`, input: () => ({ targetId: f.off.id, policyId: id() }), expected: notFound('input.policyId'),
  })),
  { mutation: 'applyStoragePolicy', title: 'a snapshot\'s VVOL as target', input: () => ({ targetId: f.offSnapshot.vvols[0], policyId: ids.policies.SILVER }), expected: invalid('input.targetId') },

  // createStoragePolicy
  { mutation: 'createStoragePolicy', title: 'an unknown capability id', input: () => policy([{ capabilityId: 'vasa.teleport', value: true }]), expected: invalid('input.rules.0.capabilityId', /Unknown capability/) },
  { mutation: 'createStoragePolicy', title: 'an unknown capability id in third place', input: () => policy([{ capabilityId: 'vasa.snapshot', value: true }, { capabilityId: 'vasa.clone', value: true }, { capabilityId: 'nope', value: 1 }]), expected: invalid('input.rules.2.capabilityId') },
  { mutation: 'createStoragePolicy', title: 'an ENUM value not allowed (capacityClass HUGE)', input: () => policy([{ capabilityId: 'vasa.capacityClass', value: 'HUGE' }]), expected: invalid('input.rules.0.value', /SMALL, MEDIUM, LARGE/) },
  { mutation: 'createStoragePolicy', title: 'a number for a BOOLEAN (snapshot: 1)', input: () => policy([{ capabilityId: 'vasa.capacityClass', value: 'SMALL' }, { capabilityId: 'vasa.snapshot', value: 1 }]), expected: invalid('input.rules.1.value') },
  { mutation: 'createStoragePolicy', title: 'a string for a BOOLEAN (snapshot: "true")', input: () => policy([{ capabilityId: 'vasa.snapshot', value: 'true' }]), expected: invalid('input.rules.0.value') },
  { mutation: 'createStoragePolicy', title: 'a duplicate capability id', input: () => policy([{ capabilityId: 'vasa.snapshot', value: true }, { capabilityId: 'vasa.snapshot', value: false }]), expected: invalid('input.rules.1.capabilityId', /twice/) },
  { mutation: 'createStoragePolicy', title: 'an empty name', input: () => policy([], ''), expected: invalid('input.name') },
  { mutation: 'createStoragePolicy', title: 'the name of an existing policy', input: () => policy([], 'GOLD'), expected: invalid('input.name', /already exists/) },
  { mutation: 'createStoragePolicy', title: 'more than 64 rules', input: () => policy(Array.from({ length: 65 }, () => ({ capabilityId: 'vasa.snapshot', value: true }))), expected: invalid('input.rules') },
  { mutation: 'createStoragePolicy', plugin: 'io-load-manager', title: 'nec.iolm lowerLimit > upperLimit', input: () => policy([{ capabilityId: 'nec.iolm.upperLimit', value: 1000 }, { capabilityId: 'nec.iolm.lowerLimit', value: 2000 }]), expected: invalid('input.rules.1.value', /must not exceed/) },
  { mutation: 'createStoragePolicy', plugin: 'io-load-manager', title: 'nec.iolm upperLimit of 5 (0 or 10..1,000,000)', input: () => policy([{ capabilityId: 'nec.iolm.upperLimit', value: 5 }]), expected: invalid('input.rules.0.value') },
  { mutation: 'createStoragePolicy', plugin: 'io-load-manager', title: 'nec.iolm lowerLimit of 5', input: () => policy([{ capabilityId: 'nec.iolm.priority', value: 'HIGH' }, { capabilityId: 'nec.iolm.lowerLimit', value: 5 }]), expected: invalid('input.rules.1.value') },
  { mutation: 'createStoragePolicy', plugin: 'io-load-manager', title: 'nec.iolm upperLimit above 1,000,000', input: () => policy([{ capabilityId: 'nec.iolm.upperLimit', value: 1_000_001 }]), expected: invalid('input.rules.0.value') },
  { mutation: 'createStoragePolicy', plugin: 'io-load-manager', title: 'nec.iolm priority not allowed', input: () => policy([{ capabilityId: 'nec.iolm.priority', value: 'URGENT' }]), expected: invalid('input.rules.0.value') },
  { mutation: 'createStoragePolicy', plugin: 'perforoptimizer', title: 'nec.po ssd minimum above its maximum', input: () => policy([{ capabilityId: 'nec.po.ssdMaxPercent', value: 40 }, { capabilityId: 'nec.po.ssdMinPercent', value: 60 }]), expected: invalid('input.rules.1.value') },
  { mutation: 'createStoragePolicy', plugin: 'perforoptimizer', title: 'nec.po a percentage above 100', input: () => policy([{ capabilityId: 'nec.po.sasMaxPercent', value: 101 }]), expected: invalid('input.rules.0.value') },
  { mutation: 'createStoragePolicy', plugin: 'perforcache', title: 'nec.pc mode without nec.pc.enabled', input: () => policy([{ capabilityId: 'nec.pc.mode', value: 'READ_WRITE' }]), expected: invalid('input.rules.0.value') },
  { mutation: 'createStoragePolicy', plugin: 'ddr', title: 'nec.ddr 4 replicas (1..3)', input: () => policy([{ capabilityId: 'nec.ddr.replica', value: true }, { capabilityId: 'nec.ddr.replicaCount', value: 4 }]), expected: invalid('input.rules.1.value') },
  { mutation: 'createStoragePolicy', plugin: 'rdr', title: 'a negative RPO', input: () => policy([{ capabilityId: 'nec.rdr.replica', value: true }, { capabilityId: 'nec.rdr.rpoSeconds', value: -5 }]), expected: invalid('input.rules.1.value') },
  { mutation: 'createStoragePolicy', plugin: 'rdr', title: 'nec.rdr zero RPO without SYNC copy', input: () => policy([{ capabilityId: 'nec.rdr.replica', value: true }, { capabilityId: 'nec.rdr.copyControl', value: 'BACKGROUND' }, { capabilityId: 'nec.rdr.rpoSeconds', value: 0 }]), expected: invalid('input.rules.2.value') },
  { mutation: 'createStoragePolicy', plugin: 'dds', title: 'nec.dds zero generations', input: () => policy([{ capabilityId: 'nec.dds.backup', value: true }, { capabilityId: 'nec.dds.generations', value: 0 }]), expected: invalid('input.rules.1.value') },

  // updateStoragePolicy
  ...badIds(() => f.deletedPolicy, () => f.off.id).map(({ what, id }): Case => ({
    mutation: 'updateStoragePolicy', title: `id: ${what}`, input: () => ({ id: id(), description: 'x' }), expected: notFound('input.id'),
  })),
  { mutation: 'updateStoragePolicy', title: 'a rule of the wrong type (the rules and generation stay)', input: () => ({ id: f.editable, rules: [{ capabilityId: 'vasa.snapshot', value: 'yes' }] }), expected: invalid('input.rules.0.value') },
  { mutation: 'updateStoragePolicy', title: 'an unknown capability', input: () => ({ id: f.editable, rules: [{ capabilityId: 'vasa.snapshot', value: true }, { capabilityId: 'x.y', value: 1 }] }), expected: invalid('input.rules.1.capabilityId') },
  { mutation: 'updateStoragePolicy', title: 'an empty name', input: () => ({ id: f.editable, name: '' }), expected: invalid('input.name') },
  { mutation: 'updateStoragePolicy', title: 'the name of another policy', input: () => ({ id: f.editable, name: 'SILVER' }), expected: invalid('input.name', /already exists/) },
  { mutation: 'updateStoragePolicy', plugin: 'io-load-manager', title: 'nec.iolm lowerLimit > upperLimit', input: () => ({ id: f.editable, rules: [{ capabilityId: 'nec.iolm.lowerLimit', value: 500 }, { capabilityId: 'nec.iolm.upperLimit', value: 100 }] }), expected: invalid('input.rules.0.value') },

  // deleteStoragePolicy
  { mutation: 'deleteStoragePolicy', title: 'a policy VMs use', input: () => ({ id: ids.policies.BRONZE }), expected: conflict('IN_USE') },
  ...badIds(() => f.deletedPolicy, () => f.off.id).map(({ what, id }): Case => ({
    mutation: 'deleteStoragePolicy', title: `id: ${what}`, input: () => ({ id: id() }), expected: notFound('input.id'),
  })),

  // deleteVirtualMachine, powerOn, powerOff
  { mutation: 'deleteVirtualMachine', title: 'a powered-on VM', input: () => ({ id: f.on.id }), expected: conflict('POWERED_ON') },
  ...badIds(() => f.deletedVm, () => ids.policies.GOLD).map(({ what, id }): Case => ({
    mutation: 'deleteVirtualMachine', title: `id: ${what}`, input: () => ({ id: id() }), expected: notFound('input.id'),
  })),
  { mutation: 'powerOnVirtualMachine', title: 'a VM already powered on', input: () => ({ id: f.on.id }), expected: conflict('POWERED_ON') },
  ...badIds(() => f.deletedVm, () => f.offSnapshot.id).map(({ what, id }): Case => ({
    mutation: 'powerOnVirtualMachine', title: `id: ${what}`, input: () => ({ id: id() }), expected: notFound('input.id'),
  })),
  { mutation: 'powerOffVirtualMachine', title: 'a VM already powered off', input: () => ({ id: f.off.id }), expected: conflict('POWERED_OFF') },
  ...badIds(() => f.deletedVm, () => f.off.disks[0]).map(({ what, id }): Case => ({
    mutation: 'powerOffVirtualMachine', title: `id: ${what}`, input: () => ({ id: id() }), expected: notFound('input.id'),
  })),

  // snapshots
  { mutation: 'snapshotVirtualMachine', title: 'an empty name', input: () => ({ vmId: f.off.id, name: '' }), expected: invalid('input.name') },
  { mutation: 'snapshotVirtualMachine', title: 'a description over 1000 characters', input: () => ({ vmId: f.off.id, name: 's', description: 'x'.repeat(1001) }), expected: invalid('input.description') },
  { mutation: 'snapshotVirtualMachine', title: 'a VM a FULL clone is still filling', input: () => ({ vmId: f.fillingVm, name: 's' }), expected: conflict('BUSY') },
  { mutation: 'revertVirtualMachine', title: 'a VM a FULL clone is still filling (checked before the snapshot)', input: () => ({ vmId: f.fillingVm, snapshotId: f.offSnapshot.id }), expected: conflict('BUSY') },
  { mutation: 'powerOnVirtualMachine', title: 'a VM a FULL clone is still filling', input: () => ({ id: f.fillingVm }), expected: conflict('BUSY') },
  { mutation: 'cloneVirtualMachine', title: 'a VM a FULL clone is still filling', input: () => ({ vmId: f.fillingVm, name: 'half', mode: 'FAST' }), expected: conflict('BUSY') },
  { mutation: 'snapshotVirtualMachine', title: 'with memory, of a powered-off VM', input: () => ({ vmId: f.off.id, name: 's', withMemory: true }), expected: invalid('input.withMemory') },
  ...badIds(() => f.deletedVm, () => f.offSnapshot.id).map(({ what, id }): Case => ({
    mutation: 'snapshotVirtualMachine', title: `vmId: ${what}`, input: () => ({ vmId: id(), name: 's' }), expected: notFound('input.vmId'),
  })),
  { mutation: 'revertVirtualMachine', title: 'to a snapshot of another VM', input: () => ({ vmId: f.off.id, snapshotId: f.otherSnapshot.id }), expected: invalid('input.snapshotId', /another VM/) },
  ...badIds(() => f.deletedSnapshot, () => f.off.id).map(({ what, id }): Case => ({
    mutation: 'revertVirtualMachine', title: `snapshotId: ${what}`, input: () => ({ vmId: f.off.id, snapshotId: id() }), expected: notFound('input.snapshotId'),
  })),
  ...badIds(() => f.deletedVm, () => f.offSnapshot.id).map(({ what, id }): Case => ({
    mutation: 'revertVirtualMachine', title: `vmId: ${what}`, input: () => ({ vmId: id(), snapshotId: f.offSnapshot.id }), expected: notFound('input.vmId'),
  })),
  ...badIds(() => f.deletedSnapshot, () => f.offSnapshot.vvols[0]).map(({ what, id }): Case => ({
    mutation: 'deleteSnapshot', title: `snapshotId: ${what}`, input: () => ({ snapshotId: id() }), expected: notFound('input.snapshotId'),
  })),

  // cloneVirtualMachine
  { mutation: 'cloneVirtualMachine', title: 'FAST into another container than the source\'s', input: () => ({ vmId: f.off.id, name: 'c', mode: 'FAST', containerId: ids.containers['tokyo-bulk'] }), expected: invalid('input.containerId') },
  { mutation: 'cloneVirtualMachine', title: 'an empty name', input: () => ({ vmId: f.off.id, name: '', mode: 'FULL' }), expected: invalid('input.name') },
  ...badIds(() => f.deletedVm, () => ids.policies.GOLD).map(({ what, id }): Case => ({
    mutation: 'cloneVirtualMachine', title: `vmId: ${what}`, input: () => ({ vmId: id(), name: 'c', mode: 'FAST' }), expected: notFound('input.vmId'),
  })),
  { mutation: 'cloneVirtualMachine', title: 'policyId: a deleted policy', input: () => ({ vmId: f.off.id, name: 'c', mode: 'FAST', policyId: f.deletedPolicy }), expected: notFound('input.policyId') },
  { mutation: 'cloneVirtualMachine', title: 'FULL, containerId: garbage', input: () => ({ vmId: f.off.id, name: 'c', mode: 'FULL', containerId: 'garbage' }), expected: notFound('input.containerId') },
  {
    mutation: 'cloneVirtualMachine',
    title: 'FULL into a container that does not offer the policy (GOLD to osaka-bulk)',
    input: () => ({ vmId: f.gold.id, name: 'c', mode: 'FULL', containerId: ids.containers['osaka-bulk'] }),
    expected: { __typename: 'CapacityError', check: (error) => expect(error.containers.map((c: any) => c.containerName)).toEqual(['osaka-bulk']) },
  },

  // cancelTask
  { mutation: 'cancelTask', title: 'a finished task', input: () => ({ taskId: f.finishedTask }), expected: conflict('SUCCEEDED') },
  ...badIds(() => encodeGlobalID('Task', '00000000-0000-4000-8000-000000000000'), () => f.off.id).map(({ what, id }): Case => ({
    mutation: 'cancelTask', title: `taskId: ${what}`, input: () => ({ taskId: id() }), expected: notFound('input.taskId'),
  })),

  // advanceSimulation (the realtime clock is below)
  { mutation: 'advanceSimulation', title: 'zero seconds', input: () => ({ seconds: 0 }), expected: invalid('input.seconds') },
  { mutation: 'advanceSimulation', title: 'negative seconds', input: () => ({ seconds: -5 }), expected: invalid('input.seconds') },
  { mutation: 'advanceSimulation', title: 'more than an hour', input: () => ({ seconds: 3_601 }), expected: invalid('input.seconds') },
  { mutation: 'advanceSimulation', title: 'a huge value', input: () => ({ seconds: 1e12 }), expected: invalid('input.seconds') },

  // relocateNow (perforoptimizer)
  { mutation: 'relocateNow', title: 'a VM id where a VVOL id belongs', input: () => ({ vvolId: f.off.id }), expected: notFound('input.vvolId') },
  { mutation: 'relocateNow', title: 'a malformed id', input: () => ({ vvolId: 'garbage' }), expected: notFound('input.vvolId') },

  // DDR pairs (the pair mutations are the core's; only ddr makes pairs in this suite)
  { mutation: 'pairLocalReplica', plugin: 'ddr', title: 'a volume paired with itself', input: () => ({ mvId: f.off.disks[0], rvId: f.off.disks[0] }), expected: invalid('input.rvId', /itself/) },
  { mutation: 'pairLocalReplica', plugin: 'ddr', title: 'an RV smaller than its MV', input: () => ({ mvId: f.off.disks[0], rvId: f.gold.disks[0] }), expected: invalid('input.rvId', /smaller/) },
  { mutation: 'pairLocalReplica', plugin: 'ddr', title: 'an RV container on another array', input: () => ({ mvId: f.off.disks[0], containerId: ids.containers['osaka-bulk'] }), expected: invalid('input.containerId', /another array/) },
  { mutation: 'pairLocalReplica', plugin: 'ddr', title: 'SEMI_SYNC, which DDR does not have', input: () => ({ mvId: f.off.disks[0], copyControl: 'SEMI_SYNC' }), expected: invalid('input.copyControl') },
  { mutation: 'pairLocalReplica', plugin: 'ddr', title: 'a SWAP volume', input: () => ({ mvId: f.onSwap }), expected: invalid('input.mvId', /SWAP/) },
  ...badIds(() => f.deletedVm, () => ids.policies.GOLD).map(({ what, id }): Case => ({
    mutation: 'pairLocalReplica', plugin: 'ddr', title: `mvId: ${what}`, input: () => ({ mvId: id() }), expected: notFound('input.mvId'),
  })),
  { mutation: 'replicatePair', plugin: 'ddr', title: 'a pair already replicating in sync', input: () => ({ pairId: f.syncedPair, range: 'DIFF' }), expected: conflict('RPL_SYNC') },
  { mutation: 'separatePair', plugin: 'ddr', title: 'a pair already separated', input: () => ({ pairId: f.separatedPair }), expected: conflict('SEPARATED') },
  { mutation: 'restorePair', plugin: 'ddr', title: 'a pair that is replicating', input: () => ({ pairId: f.syncedPair }), expected: conflict('RPL_SYNC') },
  { mutation: 'unpair', plugin: 'ddr', title: 'a pair in sync, without force', input: () => ({ pairId: f.syncedPair }), expected: conflict('RPL_SYNC') },
  { mutation: 'changePairCopyControl', plugin: 'ddr', title: 'SEMI_SYNC on a DDR pair', input: () => ({ pairId: f.syncedPair, copyControl: 'SEMI_SYNC' }), expected: invalid('input.copyControl') },
  { mutation: 'attachReplicaVolume', plugin: 'ddr', title: 'the RV of a pair in sync', input: () => ({ pairId: f.syncedPair, vmId: f.off.id }), expected: conflict('RPL_SYNC') },
  { mutation: 'attachReplicaVolume', plugin: 'ddr', title: 'a VM on another array than the RV', input: () => ({ pairId: f.separatedPair, vmId: f.elsewhereVm }), expected: invalid('input.vmId', /another array/) },
  ...badIds(() => f.deletedVm, () => ids.policies.GOLD).map(({ what, id }): Case => ({
    mutation: 'attachReplicaVolume', plugin: 'ddr', title: `vmId: ${what}`, input: () => ({ pairId: f.separatedPair, vmId: id() }), expected: notFound('input.vmId'),
  })),
  { mutation: 'detachReplicaVolume', plugin: 'ddr', title: 'an RV no VM has attached', input: () => ({ pairId: f.separatedPair }), expected: conflict('DETACHED') },
  ...(['replicatePair', 'separatePair', 'restorePair', 'changePairCopyControl', 'unpair', 'attachReplicaVolume', 'detachReplicaVolume'] as const).flatMap((mutation) =>
    badIds(() => f.deletedPair, () => f.off.id).map(({ what, id }): Case => ({
      mutation, title: `pairId: ${what}`, input: () => ({ pairId: id(), ...(mutation === 'changePairCopyControl' ? { copyControl: 'SYNC' } : mutation === 'attachReplicaVolume' ? { vmId: f.off.id } : {}) }), expected: notFound('input.pairId'),
    })),
  ),

  // dds backups
  { mutation: 'backupVirtualMachine', plugin: 'dds', title: 'a VM whose backup is still running', input: () => ({ vmId: f.runningVm }), expected: conflict('RUNNING') },
  ...badIds(() => f.deletedVm, () => f.off.disks[0]).map(({ what, id }): Case => ({
    mutation: 'backupVirtualMachine', plugin: 'dds', title: `vmId: ${what}`, input: () => ({ vmId: id() }), expected: notFound('input.vmId'),
  })),
  { mutation: 'restoreBackup', plugin: 'dds', title: 'a generation pruned by retention', input: () => ({ generationId: f.prunedGeneration, target: 'NEW_VM' }), expected: conflict('PRUNED') },
  { mutation: 'restoreBackup', plugin: 'dds', title: 'a generation still running', input: () => ({ generationId: f.runningGeneration, target: 'NEW_VM' }), expected: conflict('RUNNING') },
  { mutation: 'restoreBackup', plugin: 'dds', title: 'onto a powered-on VM', input: () => ({ generationId: f.poweredOnGeneration, target: 'VM' }), expected: conflict('POWERED_ON') },
  { mutation: 'restoreBackup', plugin: 'dds', title: 'a new VM with an empty name', input: () => ({ generationId: f.poweredOnGeneration, target: 'NEW_VM', name: '' }), expected: invalid('input.name') },
  { mutation: 'restoreBackup', plugin: 'dds', title: 'onto the VM with a container', input: () => ({ generationId: f.poweredOnGeneration, target: 'VM', containerId: ids.containers['tokyo-gold'] }), expected: invalid('input.containerId') },
  { mutation: 'restoreBackup', plugin: 'dds', title: 'a new VM in container garbage', input: () => ({ generationId: f.poweredOnGeneration, target: 'NEW_VM', containerId: 'garbage' }), expected: notFound('input.containerId') },
  ...badIds(() => encodeGlobalID('BackupGeneration', '00000000-0000-4000-8000-000000000000'), () => f.off.id).map(({ what, id }): Case => ({
    mutation: 'restoreBackup', plugin: 'dds', title: `generationId: ${what}`, input: () => ({ generationId: id(), target: 'NEW_VM' }), expected: notFound('input.generationId'),
  })),
  { mutation: 'deleteBackup', plugin: 'dds', title: 'a generation still running', input: () => ({ generationId: f.runningGeneration }), expected: conflict('RUNNING') },
  ...badIds(() => encodeGlobalID('BackupGeneration', '00000000-0000-4000-8000-000000000000'), () => f.off.id).map(({ what, id }): Case => ({
    mutation: 'deleteBackup', plugin: 'dds', title: `generationId: ${what}`, input: () => ({ generationId: id() }), expected: notFound('input.generationId'),
  })),
  // rdr
  ...([
    ['a negative bandwidth', { bytesPerSecond: -1 }, 'input.bytesPerSecond'],
    ['a zero bandwidth', { bytesPerSecond: 0 }, 'input.bytesPerSecond'],
    ['a negative latency', { latencyMs: -2 }, 'input.latencyMs'],
    ['a negative SEMI_SYNC threshold', { semiSyncThresholdBytes: -5 }, 'input.semiSyncThresholdBytes'],
    ['two arrays at the same site', { targetArrayId: 'tokyo' }, 'input.targetArrayId'],
    ['a BACKUP array as the target', { targetArrayId: 'backup' }, 'input.targetArrayId'],
  ] as const).map(([title, change, field]): Case => ({
    mutation: 'configureReplicationLink', plugin: 'rdr', title, expected: invalid(field),
    input: () => {
      const targetArrayId = 'targetArrayId' in change ? (change.targetArrayId === 'tokyo' ? f.tokyoArray : f.backupArray) : f.osakaArray;
      return { sourceArrayId: f.tokyoArray, bytesPerSecond: 1e8, latencyMs: 5, ...change, targetArrayId };
    },
  })),
  { mutation: 'configureReplicationLink', plugin: 'rdr', title: 'a VM id as an array', input: () => ({ sourceArrayId: f.off.id, targetArrayId: f.osakaArray, bytesPerSecond: 1e8, latencyMs: 5 }), expected: notFound('input.sourceArrayId') },
  { mutation: 'pairRemoteReplica', plugin: 'rdr', title: 'an RV container at the MV\'s own site', input: () => ({ mvId: f.off.disks[0], targetContainerId: ids.containers['tokyo-bulk'] }), expected: invalid('input.targetContainerId', /another site/) },
  { mutation: 'pairRemoteReplica', plugin: 'rdr', title: 'an RV smaller than its MV', input: () => ({ mvId: f.off.disks[0], rvId: f.osakaSmallDisk }), expected: invalid('input.rvId', /smaller/) },
  { mutation: 'pairRemoteReplica', plugin: 'rdr', title: 'mvId: garbage', input: () => ({ mvId: 'garbage' }), expected: notFound('input.mvId') },
  { mutation: 'createReplicationGroup', plugin: 'rdr', title: 'a target container at the VM\'s own site', input: () => ({ vmId: f.other.id, targetContainerId: ids.containers['tokyo-bulk'] }), expected: invalid('input.targetContainerId', /another site/) },
  { mutation: 'createReplicationGroup', plugin: 'rdr', title: 'vmId: a deleted VM', input: () => ({ vmId: f.deletedVm }), expected: notFound('input.vmId') },
  { mutation: 'syncReplicationGroup', plugin: 'rdr', title: 'a failed-over group', input: () => ({ groupId: f.failedOverGroup }), expected: conflict('REMOTE_FAILEDOVER') },
  { mutation: 'syncReplicationGroup', plugin: 'rdr', title: 'groupId: a VM id', input: () => ({ groupId: f.off.id }), expected: notFound('input.groupId') },
  { mutation: 'testFailoverStart', plugin: 'rdr', title: 'a failed-over group', input: () => ({ groupId: f.failedOverGroup }), expected: conflict('FAILEDOVER') },
  { mutation: 'testFailoverStop', plugin: 'rdr', title: 'a group not under test', input: () => ({ groupId: f.freshGroup }), expected: conflict('TARGET') },
  { mutation: 'failoverReplicationGroup', plugin: 'rdr', title: 'a group that is not SOURCE', input: () => ({ groupId: f.failedOverGroup, planned: true }), expected: conflict('REMOTE_FAILEDOVER') },
  { mutation: 'promoteReplicationGroup', plugin: 'rdr', title: 'a group not under test', input: () => ({ groupId: f.freshGroup }), expected: conflict('TARGET') },
  { mutation: 'reverseReplicationGroup', plugin: 'rdr', title: 'a group not failed over', input: () => ({ groupId: f.freshGroup }), expected: conflict('TARGET') },

  // setWorkload
  { mutation: 'setWorkload', title: 'both a preset and a custom profile', input: () => ({ vmId: f.off.id, preset: 'OLTP', custom: customWorkload() }), expected: invalid('input.preset') },
  { mutation: 'setWorkload', title: 'neither a preset nor a custom profile', input: () => ({ vmId: f.off.id }), expected: invalid('input.preset') },
  { mutation: 'setWorkload', title: 'CUSTOM as a preset', input: () => ({ vmId: f.off.id, preset: 'CUSTOM' }), expected: invalid('input.preset') },
  { mutation: 'setWorkload', title: 'a block size that is not a power of two', input: () => ({ vmId: f.off.id, custom: customWorkload({ blockSizeBytes: 1000 }) }), expected: invalid('input.custom.blockSizeBytes') },
  { mutation: 'setWorkload', title: 'a random ratio above 1', input: () => ({ vmId: f.off.id, custom: customWorkload({ randomRatio: 1.5 }) }), expected: invalid('input.custom.randomRatio') },
  ...badIds(() => f.deletedVm, () => ids.policies.GOLD).map(({ what, id }): Case => ({
    mutation: 'setWorkload', title: `vmId: ${what}`, input: () => ({ vmId: id(), preset: 'OLTP' }), expected: notFound('input.vmId'),
  })),
];

function customWorkload(extra: Record<string, unknown> = {}) {
  return { readIops: 100, writeIops: 50, blockSizeBytes: 8192, randomRatio: 0.5, zipfAlpha: 1, workingSetRatio: 0.5, ...extra };
}

describe('every mutation has bad-input cases', () => {
  it('each mutation of the schema has at least one case here, and every case names a mutation of the schema', () => {
    const mutations = Object.keys(app.schema.getMutationType()!.getFields()).sort();
    expect([...new Set(cases.map((c) => c.mutation))].sort()).toEqual(mutations);
  });
});

describe('bad input gets a typed error naming the field, and changes nothing', () => {
  for (const c of cases) {
    it(`${c.mutation}: ${c.title} -> ${c.expected.__typename}${'field' in c.expected ? ` ${c.expected.field}` : ''}`, async (ctx) => {
      if (c.plugin && !loadedPlugins.has(c.plugin)) ctx.skip();
      const input = c.input();
      const before = await fingerprint(app);
      const result = await mutate(app, c.mutation, input, 'storageAdmin');
      expect(result.__typename, result.message).toBe(c.expected.__typename);
      expect(result.message).toMatch(/\S/);
      switch (c.expected.__typename) {
        case 'ValidationError':
          expect(result.field, result.message).toBe(c.expected.field);
          expect(result.issues[0]).toEqual({ field: c.expected.field, message: result.message });
          if (c.expected.message) expect(result.message).toMatch(c.expected.message);
          break;
        case 'NotFoundError': {
          expect(result.field).toBe(c.expected.field);
          // The error echoes the id that was sent in that field.
          const sent = c.expected.field.split('.').slice(1).reduce((value: any, key) => value?.[key], input);
          expect(result.id).toBe(sent);
          break;
        }
        case 'ConflictError':
          expect(result.currentState).toBe(c.expected.currentState);
          break;
        case 'CapacityError':
          expect(result.containers.length).toBeGreaterThan(0);
          c.expected.check?.(result);
          break;
      }
      expect(await fingerprint(app), 'state after the refused mutation').toEqual(before);
    });
  }
});

describe('the fixtures the cases rely on are what they claim', () => {
  it('the VMs are in the states and containers the cases assume', async () => {
    const vm = async (id: string) => (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { powerState storageContainer { name maxVvolSizeBytes } virtualVolumes { type provisionedBytes } } } }`, { id })).node;
    const off = await vm(f.off.id);
    expect(off.powerState).toBe('POWERED_OFF');
    expect(off.storageContainer).toEqual({ name: 'tokyo-gold', maxVvolSizeBytes: 16 * TiB });
    expect(off.virtualVolumes.find((v: any) => v.type === 'DATA').provisionedBytes).toBe(10 * GiB);
    expect((await vm(f.on.id)).powerState).toBe('POWERED_ON');
    expect(await app.query(`query($id: ID!) { node(id: $id) { id } }`, { id: f.deletedVm })).toEqual({ node: null });
    const { containers } = await app.query('{ containers: storageContainers { edges { node { name maxVvolSizeBytes freeBytes } } } }');
    // 63 TiB is above every container's maximum VVOL size; 480 TiB above every container's free space.
    expect(Math.max(...containers.edges.map((e: any) => e.node.maxVvolSizeBytes))).toBeLessThan(63 * TiB);
    expect(Math.max(...containers.edges.map((e: any) => e.node.freeBytes))).toBeLessThan(480 * TiB);
  });

  it('the same inputs, made valid, succeed: the errors above are about the bad part only', async () => {
    const vm = await mutate(app, 'createVirtualMachine', newVm({ disks: [disk(GiB)] }));
    expect(vm.__typename).toBe('CreateVirtualMachinePayload');
    expect((await mutate(app, 'resizeVirtualVolume', { id: f.off.disks[0], sizeBytes: 16 * TiB })).__typename).toBe('ResizeVirtualVolumePayload');
    expect((await mutate(app, 'createStoragePolicy', policy([{ capabilityId: 'vasa.capacityClass', value: 'LARGE' }, { capabilityId: 'vasa.snapshot', value: true }], 'valid-policy'))).__typename).toBe('CreateStoragePolicyPayload');
    expect((await mutate(app, 'advanceSimulation', { seconds: 5 })).__typename).toBe('AdvanceSimulationPayload');
    expect((await mutate(app, 'revertVirtualMachine', { vmId: f.off.id, snapshotId: f.offSnapshot.id })).__typename).toBe('RevertVirtualMachinePayload');
    expect((await mutate(app, 'cloneVirtualMachine', { vmId: f.off.id, name: 'c', mode: 'FAST', containerId: f.off.containerId })).__typename).toBe('CloneVirtualMachinePayload');
    if (loadedPlugins.has('io-load-manager')) {
      const iolm = await mutate(app, 'createStoragePolicy', policy([{ capabilityId: 'nec.iolm.upperLimit', value: 2000 }, { capabilityId: 'nec.iolm.lowerLimit', value: 1000 }], 'valid-iolm'));
      expect(iolm.__typename).toBe('CreateStoragePolicyPayload');
    }
  });
});

describe('advanceSimulation on the realtime clock', () => {
  let realtime: TestApp;
  beforeAll(async () => {
    realtime = await startApp({ env: { VVOLGRAPH_CLOCK: 'realtime' } });
  });
  afterAll(() => realtime?.close());

  it('is a ConflictError and does not move the clock', async () => {
    const result = await mutate(realtime, 'advanceSimulation', { seconds: 3600 });
    expect(result.__typename).toBe('ConflictError');
    expect(result.currentState).toBe('REALTIME');
    expect(result.message).toMatch(/manual/);
    const { simulation } = await realtime.query('{ simulation { clock simulatedSeconds } }');
    expect(simulation.clock).toBe('REALTIME');
    // Real ticks advance it by a second or so each; the refused hour did not happen.
    expect(simulation.simulatedSeconds).toBeLessThan(600);
  });
});

describe('issues lists every rule the capabilities refuse', () => {
  it('two refused rules of one policy come back together, each naming its rule', async () => {
    const before = await fingerprint(app);
    const policy = await mutate(app, 'createStoragePolicy', { name: 'two-bad-rules', rules: [{ capabilityId: 'vasa.nope', value: 1 }, { capabilityId: 'vasa.other', value: 2 }] });
    expect(policy.__typename).toBe('ValidationError');
    expect(policy.issues.map((i: any) => i.field)).toEqual(['input.rules.0.capabilityId', 'input.rules.1.capabilityId']);
    expect(await fingerprint(app)).toEqual(before);
  });
});

describe('a value outside an enum', () => {
  // Closed sets are enums in the schema, so GraphQL itself refuses a value outside one before anything runs:
  // for every enum field of every mutation input, found in the schema rather than listed here.
  const enumInputs = () => Object.values(app.schema.getMutationType()!.getFields()).flatMap((mutation) => {
    const input = getNamedType(mutation.args.find((a) => a.name === 'input')!.type) as GraphQLInputObjectType;
    return Object.values(input.getFields()).filter((f) => isEnumType(getNamedType(f.type))).map((f) => ({ mutation: mutation.name, field: f.name, enumName: getNamedType(f.type).name }));
  });

  it('is refused by GraphQL before anything runs, naming the field and the enum, and changes nothing', async () => {
    const inputs = enumInputs();
    expect(inputs.map((i) => `${i.mutation}.${i.field}`)).toEqual(expect.arrayContaining(['pairLocalReplica.copyControl', 'pairRemoteReplica.copyControl', 'createReplicationGroup.copyControl', 'reverseReplicationGroup.copyControl', 'changePairCopyControl.copyControl', 'cloneVirtualMachine.mode']));
    const before = await fingerprint(app);
    for (const { mutation, field, enumName } of inputs) {
      const inputType = String(app.schema.getMutationType()!.getFields()[mutation].args.find((a) => a.name === 'input')!.type);
      const result = await app.gql(`mutation($input: ${inputType}) { ${mutation}(input: $input) { __typename } }`, { input: { [field]: 'ASYNC' } }, 'storageAdmin');
      expect(result.data ?? null, `${mutation}.${field}`).toBeNull();
      const error: any = result.errors?.find((e: any) => e.message.includes(`"input.${field}"`));
      expect(error, `${mutation}.${field}: ${JSON.stringify(result.errors)}`).toBeDefined();
      expect(error.message).toContain(`"ASYNC" does not exist in "${enumName}" enum`);
    }
    expect(await fingerprint(app)).toEqual(before);
  });
});

describe('a NUL character (U+0000) in a string', () => {
  it('in a mutation\'s input is a ValidationError naming every such field before anything runs, and changes nothing', async () => {
    const before = await fingerprint(app);
    const created = await mutate(app, 'createVirtualMachine', { name: 'nul\u0000name', policyId: ids.policies.BRONZE, disks: [{ sizeBytes: GiB }] }, 'vmAdmin');
    expect(created).toMatchObject({ __typename: 'ValidationError', field: 'input.name', issues: [{ field: 'input.name', message: expect.stringContaining('NUL') }] });
    const policy = await mutate(app, 'createStoragePolicy', { name: 'p\u0000', description: 'd\u0000', rules: [{ capabilityId: 'nec.po.ssdMaxPercent', value: { ['k\u0000']: 1 } }] });
    expect(policy.issues.map((i: { field: string }) => i.field).sort()).toEqual(['input.description', 'input.name', 'input.rules.0.value']);
    expect(await fingerprint(app)).toEqual(before);
  });

  it('in a query\'s argument is refused as bad input (BAD_USER_INPUT at the field), not masked as an unexpected error', async () => {
    const listed = await app.gql(`query { virtualMachines(filter: { name: "x\\u0000" }) { totalCount } }`);
    expect(listed.errors?.[0]).toMatchObject({ message: expect.stringContaining('NUL'), path: ['virtualMachines'], extensions: { code: 'BAD_USER_INPUT' } });
  });
});
