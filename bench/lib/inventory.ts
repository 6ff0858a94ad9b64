/**
 * A large, realistic inventory inserted in bulk (the services would take minutes for 10,000 VMs): the
 * demo's arrays, pools, containers, protocol endpoints and policies through seedInventory/seedPolicies,
 * then VMs, their VVOLs and disks straight into the tables, in chunks, as the services would leave them:
 * one CONFIG VVOL, one DATA VVOL per disk, a SWAP VVOL while powered on; every VVOL of a powered-on VM
 * BOUND to a protocol endpoint of its array (spread evenly, as powerOn's choosePe does); policies APPLIED
 * at generation 1; each container's usedBytes the sum of its VVOLs' provisioned bytes.
 *
 * Every choice comes from seededRandom, and ids and timestamps are derived from it too, so two runs with
 * the same seed build the same VMs and VVOLs (the inventory's own ids are random: only their names count).
 */
import { eq, sql } from 'drizzle-orm';
import type { Core } from '../../src/core/core.ts';
import { protocolEndpoints, storageArrays, storageContainers, virtualDisks, virtualMachines, virtualVolumes } from '../../src/core/db/tables.ts';
import { seedInventory, seedPolicies } from '../../src/core/demo.ts';
import { seededRandom } from '../../src/core/random.ts';
import { CONFIG_VVOL_BYTES } from '../../src/core/services/vms.ts';

const GiB = 1024 ** 3;
const CHUNK = 1000;

export interface InventoryOptions {
  vms: number;
  seed: string;
  /** Share of VMs powered on (about half by default). */
  poweredOn?: number;
}

export interface InventoryStats {
  vms: number;
  poweredOn: number;
  vvols: number;
  disks: number;
  containers: { name: string; usedPercent: number }[];
}

function uuidFrom(random: () => number): string {
  const b = Array.from({ length: 16 }, () => Math.floor(random() * 256));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = b.map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

async function insertChunks<T>(rows: T[], insert: (chunk: T[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < rows.length; i += CHUNK) await insert(rows.slice(i, i + CHUNK));
}

export async function seedLargeInventory(core: Core, options: InventoryOptions): Promise<InventoryStats> {
  const { containers: containerIds } = await seedInventory(core);
  const policies = await seedPolicies(core);
  const defaults: Record<string, string> = { 'tokyo-gold': 'GOLD', 'tokyo-bulk': 'SILVER', 'osaka-gold': 'BRONZE', 'osaka-bulk': 'SILVER' };
  // A bulk container holds BRONZE VMs too; a gold one only its own class.
  const policyMix: Record<string, [string, number][]> = {
    'tokyo-gold': [['GOLD', 1]],
    'tokyo-bulk': [['SILVER', 0.7], ['BRONZE', 0.3]],
    'osaka-gold': [['BRONZE', 0.6], ['GOLD', 0.4]],
    'osaka-bulk': [['SILVER', 0.7], ['BRONZE', 0.3]],
  };

  const db = core.db;
  for (const [name, policy] of Object.entries(defaults)) {
    await db.update(storageContainers).set({ defaultPolicyId: policies[policy] }).where(eq(storageContainers.id, containerIds[name]));
  }
  const containers = await db
    .select({ id: storageContainers.id, name: storageContainers.name, arrayId: storageContainers.arrayId, capacityBytes: storageContainers.capacityBytes, site: storageArrays.site })
    .from(storageContainers)
    .innerJoin(storageArrays, eq(storageArrays.id, storageContainers.arrayId))
    // VMs live on the primary arrays; the BACKUP array only holds dds generations.
    .where(eq(storageArrays.role, 'PRIMARY'))
    .orderBy(storageContainers.name);
  const endpoints = await db.select({ id: protocolEndpoints.id, arrayId: protocolEndpoints.arrayId }).from(protocolEndpoints).orderBy(protocolEndpoints.name);
  const endpointsByArray = new Map<string, string[]>();
  for (const pe of endpoints) endpointsByArray.set(pe.arrayId, [...(endpointsByArray.get(pe.arrayId) ?? []), pe.id]);
  const bindings = new Map<string, number>(endpoints.map((pe) => [pe.id, 0]));

  // VMs go to containers in proportion to their capacity, so each ends up about as full as the others.
  const totalCapacity = containers.reduce((sum, c) => sum + c.capacityBytes, 0);
  const random = seededRandom(options.seed);
  const pick = <T>(weighted: [T, number][]): T => {
    let r = random() * weighted.reduce((s, [, w]) => s + w, 0);
    for (const [value, weight] of weighted) if ((r -= weight) < 0) return value;
    return weighted[weighted.length - 1][0];
  };
  const roles = ['web', 'db', 'app', 'vdi', 'file', 'mail', 'ci', 'cache'];
  const epoch = Date.UTC(2025, 0, 1);
  const width = String(options.vms).length;

  const vms: (typeof virtualMachines.$inferInsert)[] = [];
  const vvols: (typeof virtualVolumes.$inferInsert)[] = [];
  const disks: (typeof virtualDisks.$inferInsert)[] = [];
  const used = new Map<string, number>(containers.map((c) => [c.id, 0]));
  let poweredOn = 0;

  for (let i = 0; i < options.vms; i++) {
    const container = pick(containers.map((c) => [c, c.capacityBytes / totalCapacity] as [typeof c, number]));
    const policyId = policies[pick(policyMix[container.name] ?? [['SILVER', 1]])];
    const id = uuidFrom(random);
    const name = `${roles[i % roles.length]}-${String(i + 1).padStart(width, '0')}`;
    const memoryBytes = (4 + 4 * Math.floor(random() * 4)) * GiB;
    const on = random() < (options.poweredOn ?? 0.5);
    const diskSizes = Array.from({ length: 1 + Math.floor(random() * 3) }, () => (8 + Math.floor(random() * 33)) * GiB);
    const createdAt = new Date(epoch + i * 60_000);
    vms.push({ id, name, host: `esxi-${String(1 + Math.floor(random() * 32)).padStart(2, '0')}.${container.site.toLowerCase()}.example`, powerState: on ? 'POWERED_ON' : 'POWERED_OFF', memoryBytes, policyId, containerId: container.id, createdAt });

    let peId: string | null = null;
    if (on) {
      poweredOn += 1;
      // The endpoint of the VM's array with the fewest bindings, ties by name (powerOn's rule).
      const candidates = endpointsByArray.get(container.arrayId) ?? [];
      peId = candidates.reduce((best, pe) => (bindings.get(pe)! < bindings.get(best)! ? pe : best), candidates[0]) ?? null;
    }
    const base = {
      vmId: id,
      containerId: container.id,
      policyId,
      policyState: 'APPLIED' as const,
      policyGeneration: 1,
      bindState: on ? ('BOUND' as const) : ('UNBOUND' as const),
      protocolEndpointId: peId,
    };
    const own: (typeof virtualVolumes.$inferInsert)[] = [
      { ...base, id: uuidFrom(random), type: 'CONFIG', provisionedBytes: CONFIG_VVOL_BYTES, metadata: { VMW_VmID: id, VMW_VVolName: `${name}.vmx` }, createdAt },
      ...diskSizes.map((size, unit): typeof virtualVolumes.$inferInsert => ({
        ...base, id: uuidFrom(random), type: 'DATA', provisionedBytes: size, metadata: { VMW_VmID: id, VMW_VVolName: `${name}_${unit}.vmdk` }, createdAt,
      })),
    ];
    if (on) own.push({ ...base, id: uuidFrom(random), type: 'SWAP', provisionedBytes: memoryBytes, metadata: { VMW_VmID: id, VMW_VVolName: `${name}.vswp` }, createdAt: new Date(createdAt.getTime() + 1000) });
    own.filter((v) => v.type === 'DATA').forEach((v, unitNumber) => disks.push({ id: uuidFrom(random), vmId: id, unitNumber, vvolId: v.id! }));
    if (peId) bindings.set(peId, bindings.get(peId)! + own.length);
    used.set(container.id, used.get(container.id)! + own.reduce((sum, v) => sum + v.provisionedBytes, 0));
    vvols.push(...own);
  }

  for (const container of containers) {
    if (used.get(container.id)! > container.capacityBytes) throw new Error(`inventory: ${container.name} would be over capacity`);
  }

  await db.transaction(async (tx) => {
    await insertChunks(vms, (chunk) => tx.insert(virtualMachines).values(chunk));
    await insertChunks(vvols, (chunk) => tx.insert(virtualVolumes).values(chunk));
    await insertChunks(disks, (chunk) => tx.insert(virtualDisks).values(chunk));
    for (const container of containers) {
      await tx.update(storageContainers).set({ usedBytes: used.get(container.id)! }).where(eq(storageContainers.id, container.id));
    }
  });
  // A database in service has planner statistics and a visibility map; a freshly bulk-loaded one has neither
  // until autovacuum comes by (PGlite has no autovacuum at all).
  await db.execute(sql`vacuum analyze`);

  return {
    vms: vms.length,
    poweredOn,
    vvols: vvols.length,
    disks: disks.length,
    containers: containers.map((c) => ({ name: c.name, usedPercent: Math.round((1000 * used.get(c.id)!) / c.capacityBytes) / 10 })),
  };
}
