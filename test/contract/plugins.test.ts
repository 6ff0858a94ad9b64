import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPlugins } from '../../src/app.ts';
import { CapabilityRegistry } from '../../src/core/capabilities.ts';
import { resultRows } from '../../src/core/db/client.ts';
import { loadConfig } from '../../src/core/config.ts';
import { definePlugin, type PolicyRule } from '../../src/core/plugin.ts';
import { importPlugins, orderPlugins, selectPlugins } from '../../src/core/plugin-loader.ts';
import { builtInPlugins } from '../../src/plugins/index.ts';
import { buildSchema } from '../../src/schema/index.ts';
import { startApp, type TestApp } from '../helpers/app.ts';

const root = resolve(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : /\.(ts|js)$/.test(name) ? [path] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1] ?? m[2]);
}

describe('import boundaries', () => {
  it('src/core and src/schema never import a plugin', () => {
    const offenders = ['src/core', 'src/schema'].flatMap((dir) =>
      sources(join(root, dir)).flatMap((file) =>
        importsOf(file)
          .filter((spec) => spec.startsWith('.') && resolve(file, '..', spec).startsWith(join(root, 'src/plugins')))
          .map((spec) => `${relative(root, file)} imports ${spec}`),
      ),
    );
    expect(offenders).toEqual([]);
  });

  it('a plugin imports only its own folder and the core\'s public surface (src/core/plugin.ts), never another plugin', () => {
    const pluginsDir = join(root, 'src/plugins');
    const offenders = readdirSync(pluginsDir)
      .filter((name) => statSync(join(pluginsDir, name)).isDirectory())
      .flatMap((name) =>
        sources(join(pluginsDir, name)).flatMap((file) =>
          importsOf(file)
            .filter((spec) => spec.startsWith('.'))
            .filter((spec) => {
              const target = resolve(file, '..', spec);
              return !target.startsWith(join(pluginsDir, name)) && target !== join(root, 'src/core/plugin.ts');
            })
            .map((spec) => `${relative(root, file)} imports ${spec}`),
        ),
      );
    expect(offenders).toEqual([]);
  });
});

describe('loading and ordering', () => {
  const plugin = (name: string, after?: string[]) => definePlugin({ name, version: '1.0.0', after });

  it('orders plugins after the ones they name, keeping the given order otherwise, and ignores names not loaded', () => {
    const ordered = orderPlugins([plugin('a', ['c']), plugin('b'), plugin('c', ['b', 'missing']), plugin('d')]);
    expect(ordered.map((p) => p.name)).toEqual(['b', 'c', 'a', 'd']);
  });

  it('refuses a cycle and a plugin loaded twice', () => {
    expect(() => orderPlugins([plugin('a', ['b']), plugin('b', ['a'])])).toThrow('cycle: a -> b -> a');
    expect(() => orderPlugins([plugin('a'), plugin('a')])).toThrow('loaded twice');
  });

  it('takes a plugin file path relative to the working directory with or without ./, and a package name otherwise', async () => {
    const path = 'examples/plugins/capacity-forecast/index.js';
    const [bare, dotted] = await importPlugins([path, `./${path}`], root);
    expect(bare.name).toBe('capacity-forecast');
    expect(dotted).toBe(bare);
    await expect(importPlugins(['no-such-vvolgraph-plugin'], root)).rejects.toThrow("Cannot find package 'no-such-vvolgraph-plugin'");
  });

  it('a plugin outside the checkout imports vvolgraph/plugin, as one installed from a package would', async () => {
    // In a process of its own, as `npm start` runs (tsx on Node): vitest resolves imports its own way.
    const folder = mkdtempSync(join(tmpdir(), 'vvolgraph-plugin-'));
    try {
      writeFileSync(join(folder, 'package.json'), JSON.stringify({ name: 'outside-plugin', type: 'module' }));
      writeFileSync(join(folder, 'index.js'), "import { definePlugin } from 'vvolgraph/plugin';\nexport default definePlugin({ name: 'outside', version: '1.0.0' });\n");
      const driver = join(folder, 'load.mts');
      writeFileSync(driver, `import { importPlugins } from ${JSON.stringify(join(root, 'src/core/plugin-loader.ts'))};\nconsole.log((await importPlugins([${JSON.stringify(join(folder, 'index.js'))}])).map((p) => p.name).join());\n`);
      const { stdout } = await promisify(execFile)(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), driver], { cwd: root });
      expect(stdout.trim()).toBe('outside');
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('refuses a plain JavaScript plugin with a misspelt hook, a hook that is no function or a malformed after, naming the plugin and the field', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'vvolgraph-plugin-'));
    const load = (name: string, body: string) => {
      writeFileSync(join(folder, `${name}.mjs`), `export default { name: '${name}', version: '1.0.0', ${body} };\n`);
      return importPlugins([join(folder, `${name}.mjs`)]);
    };
    try {
      await expect(load('typo', 'hooks: { obsrve() {} }')).rejects.toThrow(/^Plugin typo \(.*typo\.mjs\): hooks\.obsrve is not a hook; the hooks are vvolCreated, .*observe$/);
      await expect(load('not-a-function', "hooks: { observe: 'yes' }")).rejects.toThrow('Plugin not-a-function (');
      await expect(load('not-a-function', "hooks: { observe: 'yes' }")).rejects.toThrow('hooks.observe must be a function');
      await expect(load('one-name', "after: 'ddr'")).rejects.toThrow('after must be an array of plugin names');
      expect((await load('fine', 'after: [\'ddr\'], hooks: { observe() {}, taskFinished() {} }'))[0].name).toBe('fine');
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('refuses the names the core uses itself, and names that would share a migrations journal', () => {
    // `core` owns the core's tasks: a plugin of that name got their taskFinished in place of the core.
    expect(() => selectPlugins(builtInPlugins, [plugin('core')], [])).toThrow("Plugin name core is the core's own");
    expect(() => selectPlugins(builtInPlugins, [plugin('vasa')], [])).toThrow("Plugin name vasa is the core's own");
    const withMigrations = (name: string) => ({ ...plugin(name), migrationsFolder: '/somewhere' });
    expect(() => selectPlugins([], [withMigrations('acme-quota'), withMigrations('acme_quota')], [])).toThrow('Plugins acme-quota and acme_quota would share the migrations journal drizzle.__drizzle_migrations_acme_quota');
    expect(selectPlugins([], [withMigrations('acme-quota'), plugin('acme_quota')], []).map((p) => p.name)).toEqual(['acme-quota', 'acme_quota']);
  });

  it('VVOLGRAPH_DISABLE_PLUGINS removes built-ins, and must name built-ins', () => {
    const names = builtInPlugins.map((p) => p.name);
    expect(selectPlugins(builtInPlugins, [], [names[0]]).map((p) => p.name)).toEqual(names.slice(1));
    expect(() => selectPlugins(builtInPlugins, [], ['no-such-plugin'])).toThrow('no-such-plugin');
  });

  it('loads the six built-ins by default, after the core\'s own vasa namespace', async () => {
    const plugins = await loadPlugins(loadConfig({ VVOLGRAPH_TOKENS: 'viewer:12345678' }));
    expect(plugins.map((p) => p.name)).toEqual(['vasa', 'io-load-manager', 'perforoptimizer', 'perforcache', 'ddr', 'rdr', 'dds']);
  });

  it('refuses a capability namespace registered twice or an item outside its namespace', () => {
    const registry = new CapabilityRegistry();
    registry.register('a', { namespace: 'x', items: [] });
    expect(() => registry.register('b', { namespace: 'x', items: [] })).toThrow('already registered by a');
    expect(() => registry.register('c', { namespace: 'y', items: [{ id: 'z.q', name: 'q', summary: '', valueType: 'BOOLEAN', lineOfService: 'PERSISTENCE' }] })).toThrow('not in namespace y');
  });

  it('refuses capability metadata a plain JavaScript plugin got wrong, naming the capability, the plugin and what is wrong', () => {
    const item = { id: 'acme.level', name: 'Level', summary: 'How much', valueType: 'INT', lineOfService: 'PERSISTENCE' } as const;
    const register = (fields: Record<string, unknown>) => () => new CapabilityRegistry().register('acme', { namespace: 'acme', items: [{ ...item, ...fields } as never] });
    expect(register({ valueType: 'DATE' })).toThrow('Capability acme.level of acme: valueType must be one of BOOLEAN, INT, FLOAT, STRING, ENUM, RANGE, got "DATE"');
    expect(register({ lineOfService: 'SPEED' })).toThrow('lineOfService must be one of REPLICATION');
    expect(register({ min: 10, max: 1 })).toThrow('min (10) exceeds max (1)');
    expect(register({ max: '10' })).toThrow('max must be a number, got "10"');
    expect(register({ valueType: 'ENUM' })).toThrow('an ENUM needs allowedValues');
    expect(register({ min: 1, max: 10, default: 50 })).toThrow('Capability acme.level of acme: its default does not fit: acme.level must be between 1 and 10, got 50');
    expect(register({ valueType: 'BOOLEAN', default: 'yes' })).toThrow('its default does not fit');
    expect(register({ name: undefined })).toThrow('name and summary must be strings');
    expect(() => new CapabilityRegistry().register('acme', { namespace: 'acme', items: [item], validate: 'strict' as never })).toThrow('Plugin acme: capabilities.validate must be a function');
    expect(register({ min: 1, max: 10, default: 5 })).not.toThrow();
  });

  it('takes a validate that returns nothing as finding nothing wrong, as DESIGN §5 writes it', () => {
    const registry = new CapabilityRegistry();
    const item = { id: 'acme.level', name: 'Level', summary: 'How much', valueType: 'INT', lineOfService: 'PERSISTENCE' } as const;
    registry.register('acme', {
      namespace: 'acme',
      items: [item],
      // Plain JavaScript, as a third party writes it: nothing returned when nothing is wrong.
      validate: ((rules: PolicyRule[]) => {
        if (rules.some((rule) => rule.value === 13)) return [{ capabilityId: 'acme.level', message: 'unlucky' }];
      }) as never,
    });
    expect(registry.validateRules([{ capabilityId: 'acme.level', value: 3 }])).toEqual([]);
    expect(registry.validateRules([{ capabilityId: 'vasa.snapshot', value: true }, { capabilityId: 'acme.level', value: 13 }])).toEqual([
      { field: 'input.rules.0.capabilityId', message: 'Unknown capability "vasa.snapshot"' },
      { field: 'input.rules.1.value', message: 'unlucky' },
    ]);
  });
});

describe('a plugin whose schema clashes', () => {
  it('stops the start-up naming the plugin, whether it clashes with the core, with a plugin before it or throws', () => {
    const field = (name: string, type: 'VirtualVolume' | 'Query', fieldName: string) => definePlugin({
      name, version: '1.0.0',
      schema(builder, refs) {
        if (type === 'Query') builder.queryField(fieldName, (t) => t.string({ resolve: () => 'x' }));
        else builder.objectField(refs.VirtualVolume, fieldName, (t) => t.string({ resolve: () => 'x' }));
      },
    });
    expect(() => buildSchema([...builtInPlugins, field('acme-costs', 'VirtualVolume', 'costs'), field('acme-io', 'VirtualVolume', 'ioControl')])).toThrow(
      "Plugin acme-io: its schema does not fit the core's and the plugins' before it: Duplicate field ioControl on VirtualVolume",
    );
    expect(() => buildSchema([field('acme-costs', 'VirtualVolume', 'costs'), field('acme-plugins', 'Query', 'plugins')])).toThrow('Plugin acme-plugins: its schema does not fit');
    expect(() => buildSchema([definePlugin({ name: 'acme-broken', version: '1.0.0', schema() { throw new Error('oops'); } })])).toThrow('Plugin acme-broken: its schema does not fit the core\'s and the plugins\' before it: oops');
  });
});

describe('a plugin whose migrationsFolder is relative, as DESIGN §5 writes it', () => {
  const folder = mkdtempSync(join(tmpdir(), 'vvolgraph-plugin-'));
  let app: TestApp;
  beforeAll(async () => {
    mkdirSync(join(folder, 'migrations/meta'), { recursive: true });
    writeFileSync(join(folder, 'migrations/0000_notes.sql'), 'CREATE TABLE "acme_notes" ("vvol_id" uuid PRIMARY KEY REFERENCES "virtual_volumes"("id") ON DELETE CASCADE, "note" text);\n');
    writeFileSync(join(folder, 'migrations/meta/_journal.json'), JSON.stringify({ version: '7', dialect: 'postgresql', entries: [{ idx: 0, version: '7', when: 1795600500000, tag: '0000_notes', breakpoints: true }] }));
    writeFileSync(join(folder, 'index.mjs'), "export default { name: 'acme-notes', version: '1.0.0', migrationsFolder: './migrations' };\n");
    app = await startApp({ env: { VVOLGRAPH_PLUGINS: join(folder, 'index.mjs') } });
  });
  afterAll(async () => {
    await app?.close();
    rmSync(folder, { recursive: true, force: true });
  });

  it('takes it from the plugin\'s folder, not the working directory (the core\'s own migrations ran again)', async () => {
    expect(app.core.plugins.at(-1)!.migrationsFolder).toBe(join(folder, 'migrations'));
    const tables = resultRows(await app.core.db.execute(sql`select count(*)::int as n from drizzle.__drizzle_migrations_acme_notes union all select count(*)::int from acme_notes`));
    expect(tables).toEqual([{ n: 1 }, { n: 0 }]);
  });
});

describe('a plugin whose migration clashes with a core table', () => {
  it('stops the start-up naming the plugin and the database\'s reason', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'vvolgraph-plugin-'));
    try {
      mkdirSync(join(folder, 'migrations/meta'), { recursive: true });
      writeFileSync(join(folder, 'migrations/0000_vvols.sql'), 'CREATE TABLE "virtual_volumes" ("id" uuid PRIMARY KEY);\n');
      writeFileSync(join(folder, 'migrations/meta/_journal.json'), JSON.stringify({ version: '7', dialect: 'postgresql', entries: [{ idx: 0, version: '7', when: 1795600500000, tag: '0000_vvols', breakpoints: true }] }));
      writeFileSync(join(folder, 'index.mjs'), "export default { name: 'acme-vvols', version: '1.0.0', migrationsFolder: './migrations' };\n");
      await expect(startApp({ env: { VVOLGRAPH_PLUGINS: join(folder, 'index.mjs') } })).rejects.toThrow(/^Plugin acme-vvols: its migrations in .*migrations failed: .*relation "virtual_volumes" already exists/s);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe('a server with a built-in disabled', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp({ env: { VVOLGRAPH_DISABLE_PLUGINS: 'perforcache' } });
  });
  afterAll(() => app?.close());

  it('has neither its plugin, nor its namespace, nor accepts its rules', async () => {
    const data = await app.query(`{ plugins { name } capabilityNamespaces { namespace plugin } }`);
    expect(data.plugins.map((p: any) => p.name)).not.toContain('perforcache');
    expect(data.capabilityNamespaces.map((n: any) => n.namespace)).not.toContain('nec.pc');
    expect(data.capabilityNamespaces[0]).toEqual({ namespace: 'vasa', plugin: 'vasa' });
    const refused = await app.query(`mutation { createStoragePolicy(input: { name: "cache", rules: [{ capabilityId: "nec.pc.enabled", value: true }] }) { __typename ... on ValidationError { field message } } }`);
    expect(refused.createStoragePolicy).toEqual({ __typename: 'ValidationError', field: 'input.rules.0.capabilityId', message: 'Unknown capability "nec.pc.enabled"' });
  });
});
