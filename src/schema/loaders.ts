import DataLoader from 'dataloader';
import { and, asc, isNotNull } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import { judgeCompliance, type Compliance } from '../core/compliance.ts';
import type { Core } from '../core/core.ts';
import { anyOf } from '../core/db/client.ts';
import {
  poolTiers, protocolEndpoints, replicaPairs, simulationState, snapshots, storageArrays, storageContainers, storagePolicies, storagePools,
  tasks, virtualDisks, virtualMachines, virtualVolumes, workloads,
} from '../core/db/tables.ts';
import type { IoSample, PolicyRule, VirtualVolumeRow } from '../core/plugin.ts';
import { rulesByPolicy } from '../core/services/policies.ts';
import { liveVvolsOf } from '../core/services/vms.ts';
import { presets, type WorkloadProfile } from '../core/services/workloads.ts';

type Row<T extends PgTable> = T['$inferSelect'];

function group<T, K>(rows: T[], key: (row: T) => K, keys: readonly K[]): T[][] {
  const map = new Map<K, T[]>(keys.map((k) => [k, []]));
  for (const row of rows) map.get(key(row))?.push(row);
  return keys.map((k) => map.get(k)!);
}

type Batch<K, V> = (keys: readonly K[]) => Promise<readonly (V | Error)[]>;

/** The loader named `name` in `loaders`, made with `batch` the first time it is asked for. */
function named<K, V>(loaders: Map<string, DataLoader<unknown, unknown>>, name: string, batch: Batch<K, V>, options?: DataLoader.Options<K, V, unknown>): DataLoader<K, V> {
  let loader = loaders.get(name);
  if (!loader) {
    loader = new DataLoader<K, V, unknown>(batch, options) as DataLoader<unknown, unknown>;
    loaders.set(name, loader);
  }
  return loader as DataLoader<K, V>;
}

/** Rows by primary key in one statement; a missing id loads as null. */
function rowsById<T extends PgTable>(core: Core, table: T, id: PgColumn): Batch<string, Row<T> | null> {
  return async (ids) => {
    const rows = (await core.db.select().from(table as PgTable).where(anyOf(id, ids))) as (Row<T> & { id: string })[];
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.map((key) => byId.get(key) ?? null);
  };
}

/**
 * One DataLoader per relation per request: however many parents a list has, each relation costs one
 * statement. Plugins add their own through `loader(name, batch)`.
 */
export class Loaders {
  private readonly loaders = new Map<string, DataLoader<unknown, unknown>>();
  /**
   * The plugins' loaders, apart from the core's: a plugin's loader named as one of the core's took its
   * place for the rest of the request (the core's VMs then loaded through the plugin's batch).
   */
  private readonly pluginLoaders = new Map<string, DataLoader<unknown, unknown>>();

  constructor(private readonly core: Core, private readonly lastIo: (id: string) => IoSample | undefined = () => undefined) {}

  /** A plugin's loader. Plugins share these names: start yours with your plugin's (`vvolLabels.costCenter`). */
  loader<K, V>(name: string, batch: Batch<K, V>, options?: DataLoader.Options<K, V, unknown>): DataLoader<K, V> {
    return named(this.pluginLoaders, name, batch, options);
  }

  /** A plugin's table's rows by primary key (a missing id loads as null), as the core loads its own: a node's `loadMany`. */
  loaderById<T extends PgTable>(name: string, table: T, id: PgColumn): DataLoader<string, Row<T> | null> {
    return named(this.pluginLoaders, name, rowsById(this.core, table, id));
  }

  private own<K, V>(name: string, batch: Batch<K, V>, options?: DataLoader.Options<K, V, unknown>): DataLoader<K, V> {
    return named(this.loaders, name, batch, options);
  }

  private byId<T extends PgTable>(name: string, table: T, id: PgColumn): DataLoader<string, Row<T> | null> {
    return this.own(`${name}ById`, rowsById(this.core, table, id));
  }

  get arrays() { return this.byId('array', storageArrays, storageArrays.id); }
  get pools() { return this.byId('pool', storagePools, storagePools.id); }
  get containers() { return this.byId('container', storageContainers, storageContainers.id); }
  get protocolEndpoints() { return this.byId('pe', protocolEndpoints, protocolEndpoints.id); }
  get policies() { return this.byId('policy', storagePolicies, storagePolicies.id); }
  get vms() { return this.byId('vm', virtualMachines, virtualMachines.id); }
  get vvols() { return this.byId('vvol', virtualVolumes, virtualVolumes.id); }
  get snapshots() { return this.byId('snapshot', snapshots, snapshots.id); }
  get tasks() { return this.byId('task', tasks, tasks.id); }
  get replicaPairs() { return this.byId('replicaPair', replicaPairs, replicaPairs.id); }

  /** A VM's own VVOLs (those holding snapshots are under `Snapshot.virtualVolumes`). */
  get vvolsByVm() {
    return this.own('vvolsByVm', async (vmIds: readonly string[]) => {
      return group(await liveVvolsOf(this.core.db, vmIds), (r) => r.vmId!, vmIds);
    });
  }

  get vvolsBySnapshot() {
    return this.own('vvolsBySnapshot', async (snapshotIds: readonly string[]) => {
      const rows = await this.core.db.select().from(virtualVolumes).where(and(isNotNull(virtualVolumes.snapshotId), anyOf(virtualVolumes.snapshotId, snapshotIds))).orderBy(asc(virtualVolumes.createdAt), asc(virtualVolumes.type), asc(virtualVolumes.id));
      return group(rows, (r) => r.snapshotId!, snapshotIds);
    });
  }

  get disksByVm() {
    return this.own('disksByVm', async (vmIds: readonly string[]) => {
      const rows = await this.core.db.select().from(virtualDisks).where(anyOf(virtualDisks.vmId, vmIds)).orderBy(asc(virtualDisks.unitNumber));
      return group(rows, (r) => r.vmId, vmIds);
    });
  }

  get snapshotsByVm() {
    return this.own('snapshotsByVm', async (vmIds: readonly string[]) => {
      const rows = await this.core.db.select().from(snapshots).where(anyOf(snapshots.vmId, vmIds)).orderBy(asc(snapshots.createdAt), asc(snapshots.id));
      return group(rows, (r) => r.vmId, vmIds);
    });
  }

  get tiersByPool() {
    return this.own('tiersByPool', async (poolIds: readonly string[]) => {
      const rows = await this.core.db.select().from(poolTiers).where(anyOf(poolTiers.poolId, poolIds)).orderBy(asc(poolTiers.tier));
      return group(rows, (r) => r.poolId, poolIds);
    });
  }

  get rulesByPolicy() {
    return this.own('rulesByPolicy', async (policyIds: readonly string[]) => {
      const rules = await rulesByPolicy(this.core.db, policyIds);
      return policyIds.map((id) => rules.get(id) ?? ([] as PolicyRule[]));
    });
  }

  get uniqueBytes() {
    return this.own('uniqueBytes', async (vvolIds: readonly string[]) => {
      const bytes = await this.core.extents.uniqueBytes(this.core.db, vvolIds);
      return vvolIds.map((id) => bytes.get(id) ?? 0);
    });
  }

  /** Keyed by VVOL row (by id), since judging needs the row's policy state and container. */
  get compliance() {
    return this.own('compliance', async (vvols: readonly VirtualVolumeRow[]) => {
      const results = await judgeCompliance(this.core, {
        db: this.core.db,
        rules: (ids) => loadAll(this.rulesByPolicy, ids),
        containers: async (ids) => (await loadAll(this.containers, ids)).filter((c) => c !== null),
        lastIo: this.lastIo,
      }, vvols);
      return vvols.map((v) => results.get(v.id) as Compliance);
    }, { cacheKeyFn: (v) => v.id });
  }

  /**
   * The shared simulation clock as the database holds it (key: its row, 1): every instance on one database
   * moves it, so this process's own last tick may be behind it. Null before the first start wrote it.
   */
  get simulationClock() {
    return this.loader('simulationClock', async (ids: readonly number[]) => {
      const rows = await this.core.db.select({ id: simulationState.id, tick: simulationState.tick, simulatedSeconds: simulationState.simulatedSeconds }).from(simulationState);
      return ids.map((id) => rows.find((r) => r.id === id) ?? null);
    });
  }

  /** A VM's workload profile; IDLE when none was set. */
  get workloadsByVm() {
    return this.own('workloadsByVm', async (vmIds: readonly string[]) => {
      const rows = await this.core.db.select().from(workloads).where(anyOf(workloads.vmId, vmIds));
      const byVm = new Map(rows.map((r) => [r.vmId, r]));
      return vmIds.map((id): WorkloadProfile => byVm.get(id) ?? presets.IDLE);
    });
  }

  get containersByArray() {
    return this.own('containersByArray', async (arrayIds: readonly string[]) => {
      const rows = await this.core.db.select().from(storageContainers).where(anyOf(storageContainers.arrayId, arrayIds)).orderBy(asc(storageContainers.name));
      return group(rows, (r) => r.arrayId, arrayIds);
    });
  }

  get poolsByArray() {
    return this.own('poolsByArray', async (arrayIds: readonly string[]) => {
      const rows = await this.core.db.select().from(storagePools).where(anyOf(storagePools.arrayId, arrayIds)).orderBy(asc(storagePools.name));
      return group(rows, (r) => r.arrayId, arrayIds);
    });
  }

  get protocolEndpointsByArray() {
    return this.own('protocolEndpointsByArray', async (arrayIds: readonly string[]) => {
      const rows = await this.core.db.select().from(protocolEndpoints).where(anyOf(protocolEndpoints.arrayId, arrayIds)).orderBy(asc(protocolEndpoints.name));
      return group(rows, (r) => r.arrayId, arrayIds);
    });
  }
}

/** Loads many keys; unlike `loadMany`, a failed key rejects instead of returning an Error in its place. */
export function loadAll<K, V>(loader: DataLoader<K, V>, keys: readonly K[]): Promise<V[]> {
  return Promise.all(keys.map((key) => loader.load(key)));
}
