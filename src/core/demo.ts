import { count, eq } from 'drizzle-orm';
import type { Core } from './core.ts';
import { poolTiers, protocolEndpoints, storageArrays, storageContainers, storagePools } from './db/tables.ts';
import type { PolicyRule } from './plugin.ts';
import { seededRandom } from './random.ts';
import { cloneVm } from './services/clones.ts';
import { createPolicy } from './services/policies.ts';
import { snapshotVm } from './services/snapshots.ts';
import { createVirtualMachine, liveVvols, powerOn } from './services/vms.ts';
import { presets, setWorkload, type Preset } from './services/workloads.ts';

const GiB = 1024 ** 3;
const TiB = 1024 * GiB;

const allNamespaces = ['vasa', 'nec.iolm', 'nec.po', 'nec.pc', 'nec.ddr', 'nec.rdr', 'nec.dds'];

/**
 * The arrays, pools, containers and endpoints of DESIGN's demo: an M510 in Tokyo, an M310 and an HS backup array in Osaka.
 * DRAM cache sizes are the simulation's choice, within what the M-series models are sold with.
 */
export async function seedInventory(core: Core): Promise<{ containers: Record<string, string> }> {
  return core.transact(async ({ tx }) => {
    const arrays = await tx
      .insert(storageArrays)
      .values([
        { name: 'tokyo-m510', model: 'M510', serialNumber: '0000000951000001', site: 'TOKYO', role: 'PRIMARY', cacheBytes: 64 * GiB },
        { name: 'osaka-m310', model: 'M310', serialNumber: '0000000931000001', site: 'OSAKA', role: 'PRIMARY', cacheBytes: 32 * GiB },
        // The backup array serves no VM's I/O: its cache is left out of the model.
        { name: 'osaka-hs', model: 'HS3-40', serialNumber: '00000000HS300001', site: 'OSAKA', role: 'BACKUP' },
      ])
      .returning();
    const [tokyo, osaka, backup] = arrays;
    const pools = await tx
      .insert(storagePools)
      .values([
        { arrayId: tokyo.id, name: 'pool-0', l2CacheBytes: 2 * TiB, encrypted: true },
        { arrayId: osaka.id, name: 'pool-0', l2CacheBytes: 1 * TiB, encrypted: false },
        { arrayId: backup.id, name: 'backup-0', l2CacheBytes: 0, encrypted: true },
      ])
      .returning();
    const [tokyoPool, osakaPool, backupPool] = pools;
    await tx.insert(poolTiers).values([
      { poolId: tokyoPool.id, tier: 'SSD', capacityBytes: 40 * TiB, maxIops: 400_000 },
      { poolId: tokyoPool.id, tier: 'SAS', capacityBytes: 150 * TiB, maxIops: 60_000 },
      { poolId: tokyoPool.id, tier: 'NL_SAS', capacityBytes: 400 * TiB, maxIops: 15_000 },
      { poolId: osakaPool.id, tier: 'SSD', capacityBytes: 20 * TiB, maxIops: 200_000 },
      { poolId: osakaPool.id, tier: 'SAS', capacityBytes: 100 * TiB, maxIops: 40_000 },
      { poolId: osakaPool.id, tier: 'NL_SAS', capacityBytes: 300 * TiB, maxIops: 10_000 },
      { poolId: backupPool.id, tier: 'NL_SAS', capacityBytes: 1024 * TiB, maxIops: 20_000 },
    ]);
    const containers = await tx
      .insert(storageContainers)
      .values([
        { arrayId: tokyo.id, poolId: tokyoPool.id, name: 'tokyo-gold', capacityBytes: 60 * TiB, maxVvolSizeBytes: 16 * TiB, namespaces: allNamespaces,
          offers: { 'vasa.capacityClass': ['SMALL', 'MEDIUM'], 'vasa.performanceClass': ['HIGH', 'MEDIUM'], 'vasa.encryption': true, 'vasa.snapshot': true, 'vasa.clone': true, 'vasa.replication': true } },
        { arrayId: tokyo.id, poolId: tokyoPool.id, name: 'tokyo-bulk', capacityBytes: 400 * TiB, maxVvolSizeBytes: 62 * TiB, namespaces: ['vasa', 'nec.iolm', 'nec.po', 'nec.dds'],
          offers: { 'vasa.capacityClass': ['MEDIUM', 'LARGE'], 'vasa.performanceClass': ['MEDIUM', 'LOW'], 'vasa.encryption': true, 'vasa.snapshot': true, 'vasa.clone': true, 'vasa.replication': false } },
        { arrayId: osaka.id, poolId: osakaPool.id, name: 'osaka-gold', capacityBytes: 30 * TiB, maxVvolSizeBytes: 16 * TiB, namespaces: allNamespaces,
          offers: { 'vasa.capacityClass': ['SMALL', 'MEDIUM'], 'vasa.performanceClass': ['HIGH', 'MEDIUM'], 'vasa.encryption': false, 'vasa.snapshot': true, 'vasa.clone': true, 'vasa.replication': true } },
        { arrayId: osaka.id, poolId: osakaPool.id, name: 'osaka-bulk', capacityBytes: 300 * TiB, maxVvolSizeBytes: 62 * TiB, namespaces: ['vasa', 'nec.iolm', 'nec.po'],
          offers: { 'vasa.capacityClass': ['MEDIUM', 'LARGE'], 'vasa.performanceClass': ['MEDIUM', 'LOW'], 'vasa.encryption': false, 'vasa.snapshot': true, 'vasa.clone': false, 'vasa.replication': false } },
        // DirectDataShadow's backup generations land here (placement never uses a BACKUP array for VMs).
        { arrayId: backup.id, poolId: backupPool.id, name: 'osaka-backup', capacityBytes: 400 * TiB, maxVvolSizeBytes: 62 * TiB, namespaces: ['vasa', 'nec.dds'], offers: {} },
      ])
      .returning();
    await tx.insert(protocolEndpoints).values([
      { arrayId: tokyo.id, name: 'tokyo-fc-0', protocol: 'FC', identifier: '50:00:13:80:00:95:10:00' },
      { arrayId: tokyo.id, name: 'tokyo-fc-1', protocol: 'FC', identifier: '50:00:13:80:00:95:10:01' },
      { arrayId: tokyo.id, name: 'tokyo-iscsi-0', protocol: 'ISCSI', identifier: 'iqn.2001-03.jp.nec:storage01:tokyo-m510.0' },
      { arrayId: osaka.id, name: 'osaka-fc-0', protocol: 'FC', identifier: '50:00:13:80:00:93:10:00' },
      { arrayId: osaka.id, name: 'osaka-iscsi-0', protocol: 'ISCSI', identifier: 'iqn.2001-03.jp.nec:storage01:osaka-m310.0' },
    ]);
    return { containers: Object.fromEntries(containers.map((c) => [c.name, c.id])) };
  });
}

/** GOLD, SILVER and BRONZE as in the white paper; rules of plugins that are not loaded are left out. */
export async function seedPolicies(core: Core): Promise<Record<string, string>> {
  const known = (rules: PolicyRule[]) => rules.filter((r) => core.registry.capabilities.has(r.capabilityId));
  const policies = [
    { name: 'GOLD', description: 'Small capacity, high performance; snapshots, replication, cloning and encryption used.', rules: known([
      { capabilityId: 'vasa.capacityClass', value: 'SMALL' }, { capabilityId: 'vasa.performanceClass', value: 'HIGH' },
      { capabilityId: 'vasa.snapshot', value: true }, { capabilityId: 'vasa.replication', value: true },
      { capabilityId: 'vasa.clone', value: true }, { capabilityId: 'vasa.encryption', value: true },
      { capabilityId: 'nec.iolm.priority', value: 'HIGH' }, { capabilityId: 'nec.iolm.lowerLimit', value: 2000 },
      { capabilityId: 'nec.po.ssdMinPercent', value: 20 },
      { capabilityId: 'nec.ddr.replica', value: true },
      { capabilityId: 'nec.rdr.replica', value: true }, { capabilityId: 'nec.rdr.rpoSeconds', value: 300 },
      { capabilityId: 'nec.dds.backup', value: true }, { capabilityId: 'nec.dds.generations', value: 7 }, { capabilityId: 'nec.dds.mode', value: 'DIFFERENTIAL' },
    ]) },
    { name: 'SILVER', description: 'Large capacity, low performance; no snapshots, replication, cloning or encryption.', rules: known([
      { capabilityId: 'vasa.capacityClass', value: 'LARGE' }, { capabilityId: 'vasa.performanceClass', value: 'LOW' },
      { capabilityId: 'vasa.snapshot', value: false }, { capabilityId: 'vasa.replication', value: false },
      { capabilityId: 'vasa.clone', value: false }, { capabilityId: 'vasa.encryption', value: false },
      { capabilityId: 'nec.iolm.priority', value: 'LOW' }, { capabilityId: 'nec.iolm.upperLimit', value: 3000 },
    ]) },
    { name: 'BRONZE', description: 'Medium capacity and performance, snapshots only.', rules: known([
      { capabilityId: 'vasa.capacityClass', value: 'MEDIUM' }, { capabilityId: 'vasa.performanceClass', value: 'MEDIUM' },
      { capabilityId: 'vasa.snapshot', value: true }, { capabilityId: 'nec.iolm.priority', value: 'MEDIUM' },
    ]) },
  ];
  const ids: Record<string, string> = {};
  for (const policy of policies) ids[policy.name] = (await core.transact((work) => createPolicy(core, work, policy))).id;
  return ids;
}

/** 24 VMs with 1–3 disks and a workload by role, some written to and powered on, a snapshot and a fast clone: all through the services. */
export async function seedDemo(core: Core): Promise<void> {
  const [{ n }] = await core.db.select({ n: count() }).from(storageArrays);
  if (n > 0) return;
  const { containers } = await seedInventory(core);
  const policies = await seedPolicies(core);
  await core.transact(async ({ tx }) => {
    await tx.update(storageContainers).set({ defaultPolicyId: policies.GOLD }).where(eq(storageContainers.id, containers['tokyo-gold']));
    await tx.update(storageContainers).set({ defaultPolicyId: policies.SILVER }).where(eq(storageContainers.id, containers['tokyo-bulk']));
    await tx.update(storageContainers).set({ defaultPolicyId: policies.BRONZE }).where(eq(storageContainers.id, containers['osaka-gold']));
    await tx.update(storageContainers).set({ defaultPolicyId: policies.SILVER }).where(eq(storageContainers.id, containers['osaka-bulk']));
  });
  const random = seededRandom(core.config.seed);
  const roles = ['web', 'db', 'app', 'vdi', 'file', 'mail'];
  // Each role runs what such a VM would, so the demo's live I/O shows every kind of load at once.
  const workloadOf: Record<string, Preset> = { web: 'IDLE', db: 'OLTP', app: 'OLTP', vdi: 'VDI_BOOT_STORM', file: 'BACKUP_SCAN', mail: 'IDLE' };
  const policyOf = ['GOLD', 'SILVER', 'BRONZE'];
  const vmIds: string[] = [];
  for (let i = 0; i < 24; i++) {
    const name = `${roles[i % roles.length]}-${String(Math.floor(i / roles.length) + 1).padStart(2, '0')}`;
    const policyName = policyOf[i % 3];
    const disks = Array.from({ length: 1 + Math.floor(random() * 3) }, () => ({ sizeBytes: (20 + Math.floor(random() * 180)) * GiB }));
    const vm = await core.transact(async (work) => {
      const created = await createVirtualMachine(core, work, {
        name,
        host: `esxi-${String(1 + (i % 4)).padStart(2, '0')}.${i % 2 === 0 ? 'tokyo' : 'osaka'}.example`,
        policyId: policies[policyName],
        memoryBytes: (4 + 4 * Math.floor(random() * 4)) * GiB,
        disks,
      });
      const data = (await liveVvols(work.tx, created.id)).filter((v) => v.type === 'DATA');
      await core.extents.write(work.tx, data.map((v) => {
        const extents = core.extents.extentCount(v.provisionedBytes);
        const written = Math.floor(extents * (0.1 + random() * 0.5));
        return { vvolId: v.id, indexes: Array.from({ length: written }, (_, k) => Math.floor((k * extents) / written)) };
      }));
      await setWorkload(work, created.id, presets[workloadOf[roles[i % roles.length]]]);
      if (i % 3 !== 2) await powerOn(core, work, created.id);
      return created;
    });
    vmIds.push(vm.id);
  }
  await core.transact((work) => snapshotVm(core, work, { vmId: vmIds[1], name: 'before-upgrade', description: 'Taken by the demo seed' }));
  await core.transact((work) => cloneVm(core, work, { vmId: vmIds[0], name: 'web-01-fastclone', mode: 'FAST' }));
}
