import fc from 'fast-check';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { virtualVolumes } from '../../src/core/db/tables.ts';
import { ExtentMemory } from '../../src/core/extent-memory.ts';
import { contentIdOf, digestTerm } from '../../src/core/content-hash.ts';
import { digestOf } from '../../src/core/extents.ts';
import { createVirtualMachine, liveVvols } from '../../src/core/services/vms.ts';
import { GiB, seedBasics, startApp, type TestApp } from '../helpers/app.ts';

let app: TestApp;
let policyId: string;
const EXTENT = 32 * 1024 * 1024;

beforeAll(async () => {
  app = await startApp();
  const { policies } = await seedBasics(app);
  policyId = Buffer.from(policies.BRONZE, 'base64').toString().split(':')[1];
});
afterAll(() => app?.close());

/** A fresh VM with one 1 GiB disk (32 extents); returns the disk's VVOL id. */
async function freshDisk(name: string): Promise<string> {
  return app.core.transact(async (work) => {
    const vm = await createVirtualMachine(app.core, work, { name, policyId, disks: [{ sizeBytes: GiB }] });
    return (await liveVvols(work.tx, vm.id)).find((v) => v.type === 'DATA')!.id;
  });
}

const row = async (id: string) => (await app.core.db.select().from(virtualVolumes).where(eq(virtualVolumes.id, id)))[0];

/** SplitMix64's finalizer on BigInt, as DESIGN §6's content ids were first computed: the reference for the 32-bit halves. */
function referenceMix64(x: bigint): bigint {
  const mask = (1n << 64n) - 1n;
  let z = (x + 0x9e3779b97f4a7c15n) & mask;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & mask;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & mask;
  return z ^ (z >> 31n);
}

describe('content ids', () => {
  it('content ids and digest terms, computed on 32-bit halves, equal SplitMix64 on BigInt bit for bit', () => {
    fc.assert(fc.property(fc.maxSafeNat(), (n) => contentIdOf(n) === BigInt.asIntN(64, referenceMix64(BigInt(n)))), { numRuns: 5000 });
    fc.assert(fc.property(fc.nat({ max: 1 << 20 }), fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), (index, contentId) =>
      digestTerm(index, contentId) === referenceMix64(BigInt.asUintN(64, contentId) ^ referenceMix64(BigInt(index)))), { numRuns: 5000 });
    // Where the first addition's low half carries into the high half (from 0x80b583eb up), and the ends.
    for (const n of [0, 1, 0x80b583ea, 0x80b583eb, 5 * 2 ** 32 + 0x80b583eb, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
      expect(contentIdOf(n)).toBe(BigInt.asIntN(64, referenceMix64(BigInt(n))));
    }
  });

  it('distinct sequence numbers give distinct content ids (no two writes share one)', () => {
    fc.assert(fc.property(fc.maxSafeNat(), fc.maxSafeNat(), (a, b) => (a === b) === (contentIdOf(a) === contentIdOf(b))));
  });

  it('no two writes share a content id: one after another, side by side, and after a write that rolled back', async () => {
    const disks = await Promise.all(['ids-a', 'ids-b', 'ids-c'].map(freshDisk));
    const writeAll = (vvolId: string) => app.core.transact((work) => app.core.extents.write(work.tx, [{ vvolId, indexes: Array.from({ length: 32 }, (_, i) => i) }]));
    const rolledBack = await app.core
      .transact(async (work) => {
        const rows = await app.core.extents.write(work.tx, [{ vvolId: disks[0], indexes: [0, 1, 2] }]);
        throw Object.assign(new Error('roll back'), { rows });
      })
      .catch((error: { rows: { contentId: bigint }[] }) => error.rows);
    const written = [...(await writeAll(disks[0])), ...(await writeAll(disks[0])), ...(await Promise.all(disks.map(writeAll))).flat()];
    const ids = [...rolledBack, ...written].map((r) => r.contentId);
    expect(ids).toHaveLength(3 + 32 * 5);
    expect(new Set(ids).size).toBe(ids.length);
    // What the database holds is what the last writes returned.
    const map = await app.core.extents.map(app.core.db, disks[1]);
    expect(map.map((e) => e.contentId)).toEqual(written.filter((r) => r.vvolId === disks[1]).sort((a, b) => a.index - b.index).map((r) => r.contentId));
  });
});

describe('extent map invariants (fast-check over random write sequences)', () => {
  const writes = fc.array(fc.uniqueArray(fc.integer({ min: 0, max: 31 }), { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 6 });

  it('the incrementally kept digest and allocated bytes always equal those recomputed from the extent map', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(writes, async (batches) => {
        const vvolId = await freshDisk(`prop-digest-${n++}`);
        for (const indexes of batches) await app.core.transact((work) => app.core.extents.write(work.tx, [{ vvolId, indexes }]));
        const map = await app.core.extents.map(app.core.db, vvolId);
        const vvol = await row(vvolId);
        expect(vvol.contentDigest).toBe(digestOf(map));
        expect(vvol.allocatedBytes).toBe(new Set(batches.flat()).size * EXTENT);
        expect(map.map((e) => e.index)).toEqual([...new Set(batches.flat())].sort((a, b) => a - b));
      }),
      { numRuns: 15 },
    );
  });

  it('after a map copy (fast clone), writes to either side leave the copy\'s uniqueBytes equal to the extents that now differ, and unshared extents list exactly those', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(writes, writes, writes, async (initial, onSource, onClone) => {
        const source = await freshDisk(`prop-src-${n}`);
        const clone = await freshDisk(`prop-dst-${n++}`);
        for (const indexes of initial) await app.core.transact((work) => app.core.extents.write(work.tx, [{ vvolId: source, indexes }]));
        await app.core.transact(async (work) => {
          await app.core.extents.copyMap(work.tx, source, clone);
          await work.tx.update(virtualVolumes).set({ origin: 'FAST_CLONE', parentId: source }).where(eq(virtualVolumes.id, clone));
        });
        expect((await row(clone)).contentDigest).toBe((await row(source)).contentDigest);
        expect((await app.core.extents.uniqueBytes(app.core.db, [clone])).get(clone) ?? 0).toBe(0);

        for (const indexes of onSource) await app.core.transact((work) => app.core.extents.write(work.tx, [{ vvolId: source, indexes }]));
        for (const indexes of onClone) await app.core.transact((work) => app.core.extents.write(work.tx, [{ vvolId: clone, indexes }]));

        const written = new Set(initial.flat());
        const cloneHas = new Set([...written, ...onClone.flat()]);
        // An extent of the clone differs from the source if either side rewrote it since the copy.
        const differing = [...cloneHas].filter((i) => onClone.flat().includes(i) || onSource.flat().includes(i)).sort((a, b) => a - b);
        expect((await app.core.extents.uniqueBytes(app.core.db, [clone])).get(clone) ?? 0).toBe(differing.length * EXTENT);
        const unshared = await app.core.extents.unshared(app.core.db, clone, source, GiB);
        expect(unshared.map((e) => e.index)).toEqual(differing);
        const sameData = differing.length === 0 && new Set([...written, ...onSource.flat()]).size === cloneHas.size;
        expect((await row(clone)).contentDigest === (await row(source)).contentDigest).toBe(sameData);
      }),
      { numRuns: 12 },
    );
  });

  it('keeps digest and allocated bytes right when the map changed behind the write path\'s memory: another process, a rolled-back write, a resize', async () => {
    const vvolId = await freshDisk('behind-its-back');
    const write = (indexes: number[]) => app.core.transact((work) => app.core.extents.write(work.tx, [{ vvolId, indexes }]));
    const expectConsistent = async (indexes: number[]) => {
      const map = await app.core.extents.map(app.core.db, vvolId);
      expect(map.map((e) => e.index)).toEqual(indexes);
      const vvol = await row(vvolId);
      expect(vvol.contentDigest).toBe(digestOf(map));
      expect(vvol.allocatedBytes).toBe(indexes.length * EXTENT);
    };
    await write([0, 1, 2]);
    // Another process trims extent 1 and keeps the row in step, as its own write path would.
    await app.core.db.transaction(async (tx) => {
      await tx.execute(sql`delete from extents where vvol_id = ${vvolId}::uuid and idx = 1`);
      const map = await app.core.extents.map(tx, vvolId);
      await tx.update(virtualVolumes).set({ contentDigest: digestOf(map), allocatedBytes: 2 * EXTENT }).where(eq(virtualVolumes.id, vvolId));
    });
    await write([3]);
    await expectConsistent([0, 2, 3]);
    await expect(app.core.transact(async (work) => {
      await app.core.extents.write(work.tx, [{ vvolId, indexes: [5] }]);
      throw new Error('roll back');
    })).rejects.toThrow('roll back');
    await write([6]);
    await expectConsistent([0, 2, 3, 6]);
    // The volume grew elsewhere: an index past its old end is inside it now.
    await app.core.db.update(virtualVolumes).set({ provisionedBytes: 2 * GiB }).where(eq(virtualVolumes.id, vvolId));
    await write([40]);
    await expectConsistent([0, 2, 3, 6, 40]);
  });

  it('the dirty-extent bitmap kept in memory equals the one the database\'s maps give, whatever writes, copies, trims, map copies, rolled-back writes and changes by another process came before', async () => {
    const store = app.core.extents;
    /** The oracle: both maps read from the database, compared index by index (every extent of a 1 GiB disk is whole). */
    const dirtyInDatabase = async (a: string, b: string) => {
      const [left, right] = await Promise.all([a, b].map(async (id) => new Map((await store.map(app.core.db, id)).map((e) => [e.index, e.contentId]))));
      const indexes = [...new Set([...left.keys(), ...right.keys()])].filter((i) => left.get(i) !== right.get(i)).sort((x, y) => x - y);
      return { indexes, bytes: indexes.length * EXTENT };
    };
    const indexes = fc.uniqueArray(fc.integer({ min: 0, max: 31 }), { minLength: 1, maxLength: 6 });
    const side = fc.constantFrom<'a' | 'b'>('a', 'b');
    const operation = fc.oneof(
      fc.record({ kind: fc.constant('write' as const), side, indexes }),
      fc.record({ kind: fc.constant('copy' as const), indexes }),
      fc.record({ kind: fc.constant('trim' as const), side, indexes }),
      fc.record({ kind: fc.constant('copyMap' as const), side }),
      fc.record({ kind: fc.constant('rolledBack' as const), side, indexes }),
      fc.record({ kind: fc.constant('elsewhere' as const), side, indexes }),
    );
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 10 }), async (operations) => {
        const ids = { a: await freshDisk(`dirty-a-${n}`), b: await freshDisk(`dirty-b-${n}`), c: await freshDisk(`dirty-c-${n++}`) };
        const other = (s: 'a' | 'b') => ids[s === 'a' ? 'b' : 'a'];
        for (const op of operations) {
          if (op.kind === 'write') await app.core.transact((work) => store.write(work.tx, [{ vvolId: ids[op.side], indexes: op.indexes }]));
          if (op.kind === 'copy' || op.kind === 'trim') {
            await app.core.transact(async (work) => {
              const source = new Map((await store.map(work.tx, ids.a)).map((e) => [e.index, e.contentId]));
              const target = op.kind === 'copy' ? ids.b : ids[op.side];
              await store.assign(work.tx, op.indexes.map((index) => ({ vvolId: target, index, contentId: op.kind === 'copy' ? source.get(index) ?? null : null })));
            });
          }
          if (op.kind === 'copyMap') await app.core.transact((work) => store.copyMap(work.tx, ids[op.side], other(op.side)));
          if (op.kind === 'rolledBack') {
            await app.core.transact(async (work) => {
              await store.write(work.tx, [{ vvolId: ids[op.side], indexes: op.indexes }]);
              throw new Error('roll back');
            }).catch(() => {});
          }
          if (op.kind === 'elsewhere') {
            // Another process trims extents and keeps the row in step, as its own write path would.
            await app.core.db.transaction(async (tx) => {
              await tx.execute(sql`delete from extents where vvol_id = ${ids[op.side]}::uuid and idx = any(${`{${op.indexes.join(',')}}`}::int[])`);
              const map = await store.map(tx, ids[op.side]);
              await tx.update(virtualVolumes).set({ contentDigest: digestOf(map), allocatedBytes: map.length * EXTENT }).where(eq(virtualVolumes.id, ids[op.side]));
            });
          }
          // Each pair asked for alone: a pair not asked for in a call is still kept up to date for the next.
          for (const [a, b] of [[ids.a, ids.b], [ids.a, ids.c], [ids.b, ids.a]]) {
            const inMemory = await app.core.transact((work) => app.core.copier.dirty(work.tx, [[a, b]]));
            expect(inMemory).toEqual(new Map([[`${a}/${b}`, await dirtyInDatabase(a, b)]]));
          }
        }
      }),
      { numRuns: 15 },
    );
  });

  it('refuses writes outside the volume', async () => {
    const vvolId = await freshDisk('bounds');
    await expect(app.core.transact((work) => app.core.extents.write(work.tx, [{ vvolId, indexes: [32] }]))).rejects.toThrow(/outside/);
    expect((await row(vvolId)).allocatedBytes).toBe(0);
  });
});

describe('the extent store\'s memory', () => {
  it('forgets the VVOLs nobody used for a whole sweep period, and stops following their differences', () => {
    const memory = new ExtentMemory();
    const content = (terms: [number, bigint][]) => ({ provisionedBytes: GiB, allocatedBytes: 0, digest: 0n, terms: new Map(terms) });
    memory.set('a', content([[1, 10n]]));
    memory.set('b', content([[1, 11n]]));
    memory.set('c', content([]));
    expect([...memory.difference('a', 'b')]).toEqual([1]);
    for (let round = 0; round < 8; round++) {
      memory.get('a');
      memory.sweep(4);
    }
    expect(['a', 'b', 'c'].map((id) => memory.has(id))).toEqual([true, false, false]);
    memory.get('a')!.terms.set(2, 12n);
    expect(() => memory.changed('a', 2)).not.toThrow();
  });
});
