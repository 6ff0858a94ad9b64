import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/core/db/client.ts';

/**
 * Migrating a fresh PGlite takes seconds, so it is done once per run: every test app then starts from
 * a copy of this migrated data directory. (On PostgreSQL each app gets its own fresh database.)
 */
export default async function setup(): Promise<() => void> {
  const dir = mkdtempSync(join(tmpdir(), 'vvolgraph-test-'));
  if (!process.env.DATABASE_URL) {
    const database = await openDatabase({ kind: 'pglite' });
    await database.migrate();
    const dump = await database.pglite!.dumpDataDir('none');
    writeFileSync(join(dir, 'template.tar'), Buffer.from(await dump.arrayBuffer()));
    await database.close();
    process.env.VVOLGRAPH_TEST_TEMPLATE = join(dir, 'template.tar');
  }
  return () => rmSync(dir, { recursive: true, force: true });
}
