import { describe, expect, it } from 'vitest';
import { EMBEDDED_CHECKPOINT_WAL_BYTES, openDatabase } from '../../src/core/db/client.ts';

const MB = 1024 * 1024;

describe('the embedded database (PGlite)', () => {
  it('checkpoints as WAL grows, so its WAL stays near max_wal_size (128 MB) however much is written', async () => {
    const handle = await openDatabase({ kind: 'pglite' });
    const pglite = handle.pglite!;
    try {
      const walBytes = async () => Number((await pglite.query<{ bytes: string }>(`select coalesce(sum(size), 0)::text as bytes from pg_ls_waldir()`)).rows[0].bytes);
      const setting = async (name: string) => (await pglite.query<{ value: string }>(`select current_setting($1) as value`, [name])).rows[0].value;
      expect(await setting('max_wal_size')).toBe('128MB');
      await pglite.exec('create table t (id int primary key, v bigint)');
      // Each round rewrites 50,000 rows: ~13 MB of WAL, ~200 MB in all, more than triggers a checkpoint.
      for (let round = 0; round < 15; round++) await pglite.exec(`insert into t select g, ${round} from generate_series(1, 50000) g on conflict (id) do update set v = excluded.v`);
      expect(await walBytes()).toBeGreaterThan(EMBEDDED_CHECKPOINT_WAL_BYTES + 32 * MB);
      // The check runs each second between statements: wait for it (at most 20 s), not for a time.
      for (let i = 0; (await walBytes()) > EMBEDDED_CHECKPOINT_WAL_BYTES + 16 * MB; i++) {
        if (i === 200) throw new Error(`WAL still at ${Math.round((await walBytes()) / MB)} MB`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect((await pglite.query<{ n: number }>('select count(*)::int as n from t')).rows[0].n).toBe(50_000);
    } finally {
      await handle.close();
    }
  });
});
