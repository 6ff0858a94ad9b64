/**
 * `npm run bench -- <name>` runs bench/<name>.ts; `npm run bench` runs every bench/*.ts (but this one),
 * one after another. Each bench prints one JSON line of figures on stdout (progress goes to stderr).
 *
 * Each bench runs in a process of its own, on the Node that runs this script (the `node` devDependency,
 * through npm), with tsx's loader: no state leaks from one bench to the next.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

function benches(name: string | undefined): string[] {
  if (name) {
    const file = join(here, `${basename(name, '.ts')}.ts`);
    if (basename(file) === 'run.ts' || !existsSync(file)) {
      const known = benches(undefined).map((f) => basename(f, '.ts'));
      console.error(`unknown bench "${name}"; known: ${known.join(', ') || '(none)'}`);
      process.exit(2);
    }
    return [file];
  }
  return readdirSync(here)
    .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.endsWith('.d.ts'))
    .sort()
    .map((f) => join(here, f));
}

function run(file: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], { stdio: 'inherit', cwd: join(here, '..') });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

let failed = 0;
for (const file of benches(process.argv[2])) {
  const code = await run(file);
  if (code !== 0) {
    console.error(`bench ${basename(file, '.ts')} failed (exit ${code})`);
    failed += 1;
  }
}
process.exit(failed > 0 ? 1 : 0);
