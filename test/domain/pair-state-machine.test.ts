import fc from 'fast-check';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replicaPairs, virtualVolumes } from '../../src/core/db/tables.ts';
import { ConflictError } from '../../src/core/errors.ts';
import type { PairRow } from '../../src/core/pairs.ts';
import { createVirtualMachine, liveVvols } from '../../src/core/services/vms.ts';
import { GiB, seedBasics, startApp, type TestApp } from '../helpers/app.ts';

let app: TestApp;
let policyId: string;

beforeAll(async () => {
  app = await startApp();
  const { policies } = await seedBasics(app);
  policyId = Buffer.from(policies.BRONZE, 'base64').toString().split(':')[1];
});
afterAll(() => app?.close());

/** A fresh 1 GiB disk (32 extents) with some data, paired with a new RV in its container: SEPARATED. */
async function freshPair(name: string): Promise<PairRow> {
  return app.core.transact(async (work) => {
    const vm = await createVirtualMachine(app.core, work, { name, policyId, disks: [{ sizeBytes: GiB }] });
    const mv = (await liveVvols(work.tx, vm.id)).find((v) => v.type === 'DATA')!;
    await app.core.extents.write(work.tx, [{ vvolId: mv.id, indexes: [0, 1, 2, 3, 4, 5] }]);
    const rv = await app.core.pairs.createReplicaVolume(work, mv.id, mv.containerId, 'rv');
    // 64 MiB/s: a FULL copy of the 6 written extents takes three seconds, so ticks land mid-copy.
    return app.core.pairs.create(work, { owner: 'ddr', mvId: mv.id, rvId: rv.id, copyControl: 'BACKGROUND', link: `prop:${name}`, bytesPerSecond: 64 * 1024 ** 2 });
  });
}

type Op =
  | { op: 'replicate'; range: 'FULL' | 'DIFF' }
  | { op: 'separate'; rvAccess: 'RO' | 'RW' }
  | { op: 'restore'; mode: 'UPDATE' | 'PROTECT' }
  | { op: 'copyControl'; copyControl: 'SYNC' | 'BACKGROUND' }
  | { op: 'write'; indexes: number[] }
  | { op: 'advance'; seconds: number };

const ops: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('replicate' as const), range: fc.constantFrom('FULL' as const, 'DIFF' as const) }),
  fc.record({ op: fc.constant('separate' as const), rvAccess: fc.constantFrom('RO' as const, 'RW' as const) }),
  fc.record({ op: fc.constant('restore' as const), mode: fc.constantFrom('UPDATE' as const, 'PROTECT' as const) }),
  fc.record({ op: fc.constant('copyControl' as const), copyControl: fc.constantFrom('SYNC' as const, 'BACKGROUND' as const) }),
  fc.record({ op: fc.constant('write' as const), indexes: fc.uniqueArray(fc.integer({ min: 0, max: 31 }), { minLength: 1, maxLength: 4 }) }),
  fc.record({ op: fc.constant('advance' as const), seconds: fc.integer({ min: 1, max: 4 }) }),
);

/** NEC's legal moves, written out independently of the implementation's table. */
const legal: Record<'replicate' | 'separate' | 'restore', string[]> = {
  replicate: ['SEPARATED', 'RST_SYNC', 'CANCEL', 'FAULT'],
  separate: ['RPL_SYNC', 'RST_SYNC'],
  restore: ['SEPARATED'],
};

/** The sync states each activity may be in. */
const statesOf: Record<string, string[]> = {
  REPLICATE: ['RPL_EXEC', 'RPL_SYNC', 'CANCEL', 'FAULT'],
  SEPARATE: ['SEP_EXEC', 'SEPARATED', 'CANCEL', 'FAULT'],
  RESTORE: ['RST_EXEC', 'RST_SYNC', 'CANCEL', 'FAULT'],
  RESTORE_PROTECT: ['RST_EXEC', 'RST_SYNC', 'CANCEL', 'FAULT'],
};

const pairRow = async (id: string) => (await app.core.db.select().from(replicaPairs).where(eq(replicaPairs.id, id)))[0];
const digest = async (id: string) => (await app.core.db.select({ d: virtualVolumes.contentDigest }).from(virtualVolumes).where(eq(virtualVolumes.id, id)))[0].d;
const advance = (seconds: number) => app.query(`mutation($s: Float!) { advanceSimulation(input: { seconds: $s }) { __typename } }`, { s: seconds });

describe('replica pair state machine (fast-check over random operations and writes)', () => {
  it('never reaches an illegal state, refuses exactly the illegal moves, and after a completed replicate or restore the digests agree', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(ops, { minLength: 4, maxLength: 12 }), async (sequence) => {
        const { id, mvId, rvId } = await freshPair(`prop-pair-${n++}`);
        /** The MV's digest when the RV was last separated from it: the RV must keep exactly that. */
        let separatedAt: string | null = null;
        /** The RV's digest when a PROTECT restore started: the RV must keep exactly that while it lasts. */
        let protectedAt: string | null = null;
        for (const step of sequence) {
          const before = await pairRow(id);
          const run = async () => {
            switch (step.op) {
              case 'replicate': return app.core.transact((work) => app.core.pairs.replicate(work, id, step.range));
              case 'separate': return app.core.transact((work) => app.core.pairs.separate(work, id, step.rvAccess, 'COMPLETE'));
              case 'restore': return app.core.transact((work) => app.core.pairs.restore(work, id, step.mode));
              case 'copyControl': return app.core.transact((work) => app.core.pairs.changeCopyControl(work, id, step.copyControl));
              case 'write': return app.core.transact((work) => app.core.extents.write(work.tx, [{ vvolId: mvId, indexes: step.indexes }]));
              case 'advance': return advance(step.seconds);
            }
          };
          const mvBefore = await digest(mvId);
          let refused: unknown = null;
          await run().catch((error) => (refused = error));
          const after = await pairRow(id);
          if (step.op === 'replicate' || step.op === 'separate' || step.op === 'restore') {
            const allowed = legal[step.op].includes(before.syncState);
            expect(refused === null, `${step.op} from ${before.syncState}`).toBe(allowed);
            if (!allowed) {
              expect(refused).toBeInstanceOf(ConflictError);
              expect((refused as ConflictError).currentState).toBe(before.syncState);
              expect(after).toEqual(before);
            }
          } else {
            expect(refused).toBeNull();
          }
          expect(statesOf[after.activity], `${after.activity}/${after.syncState}`).toContain(after.syncState);
          if (after.activity === 'REPLICATE' || after.syncState === 'RST_EXEC') expect(after.rvAccess).toBe('NR');
          if (step.op === 'separate' && !refused) separatedAt = mvBefore;
          if (step.op === 'restore' && !refused) protectedAt = step.mode === 'PROTECT' ? await digest(rvId) : null;
          if (after.activity === 'RESTORE_PROTECT' && protectedAt !== null) expect(await digest(rvId)).toBe(protectedAt);
          // Restore is immediate: the MV shows the RV's data the moment it starts.
          if (step.op === 'restore' && !refused) expect(await digest(mvId)).toBe(await digest(rvId));
          if (after.syncState === 'SEPARATED' && separatedAt !== null) expect(await digest(rvId)).toBe(separatedAt);
        }
        // Quiesce: no more writes; whatever copy is running completes.
        await advance(30);
        const end = await pairRow(id);
        expect(end.taskId).toBeNull();
        // In sync: the RV follows the MV, except under PROTECT, where the RV keeps what was restored from.
        if (end.syncState === 'RPL_SYNC' || (end.syncState === 'RST_SYNC' && end.activity === 'RESTORE')) expect(await digest(rvId)).toBe(await digest(mvId));
        if (end.activity === 'RESTORE_PROTECT') expect(await digest(rvId)).toBe(protectedAt);
        if (end.syncState === 'SEPARATED' && separatedAt !== null) expect(await digest(rvId)).toBe(separatedAt);
      }),
      { numRuns: 25 },
    );
  });
});
