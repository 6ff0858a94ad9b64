import { existsSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { hookNames, type Plugin } from './plugin.ts';
import { vasaPlugin } from './vasa.ts';

/**
 * Imports plugins named by `VVOLGRAPH_PLUGINS`: a file path (relative to the working directory, with or
 * without a leading `./`) or a package name. A specifier that names an existing file or folder is a path.
 */
export async function importPlugins(specifiers: string[], cwd = process.cwd()): Promise<Plugin[]> {
  if (specifiers.length > 0) resolveVvolgraphForPlugins();
  return Promise.all(
    specifiers.map(async (specifier) => {
      const isPath = specifier.startsWith('.') || isAbsolute(specifier) || existsSync(resolve(cwd, specifier));
      const url = isPath ? pathToFileURL(resolve(cwd, specifier)).href : specifier;
      const module = (await import(url)) as { default?: unknown; plugin?: unknown };
      return withOwnMigrations(checkPlugin(module.default ?? module.plugin, specifier), () => (isPath ? url : import.meta.resolve(specifier)));
    }),
  );
}

/**
 * A relative `migrationsFolder` (`'./migrations'`) names the plugin's own folder: taken from the working
 * directory, it was the checkout's, and the core's migrations ran again under the plugin's journal.
 */
function withOwnMigrations(plugin: Plugin, moduleUrl: () => string): Plugin {
  const folder = plugin.migrationsFolder;
  if (folder === undefined || isAbsolute(folder)) return plugin;
  return { ...plugin, migrationsFolder: fileURLToPath(new URL(folder, moduleUrl())) };
}

let resolvingVvolgraph = false;

/**
 * A plugin imports `vvolgraph/plugin`. Only files inside this package can name it (Node's package
 * self-reference), so a plugin installed into node_modules, or kept in a folder of its own, could not:
 * resolve `vvolgraph` and `vvolgraph/*` for every importer as from here.
 */
function resolveVvolgraphForPlugins(): void {
  if (resolvingVvolgraph) return;
  resolvingVvolgraph = true;
  registerHooks({
    resolve: (specifier, context, next) => next(specifier, specifier === 'vvolgraph' || specifier.startsWith('vvolgraph/') ? { ...context, parentURL: import.meta.url } : context),
  });
}

/**
 * What a plugin object must look like. A plugin may be plain JavaScript, with no type check: a misspelt
 * hook would never run and a malformed field would fail far from its cause, so either stops the start-up here.
 */
function checkPlugin(value: unknown, source: string): Plugin {
  const plugin = value as Plugin;
  if (typeof plugin !== 'object' || plugin === null || typeof plugin.name !== 'string' || typeof plugin.version !== 'string') {
    throw new Error(`${source} does not export a plugin (an object with a name and a version) as default`);
  }
  const problem = (what: string) => new Error(`Plugin ${plugin.name} (${source}): ${what}`);
  if (plugin.after !== undefined && !(Array.isArray(plugin.after) && plugin.after.every((name) => typeof name === 'string'))) {
    throw problem('after must be an array of plugin names');
  }
  if (plugin.schema !== undefined && typeof plugin.schema !== 'function') throw problem('schema must be a function');
  if (plugin.demandNeutralEvents !== undefined && !(Array.isArray(plugin.demandNeutralEvents) && plugin.demandNeutralEvents.every((kind) => typeof kind === 'string' && kind !== ''))) {
    throw problem('demandNeutralEvents must be an array of event kind beginnings');
  }
  if (plugin.migrationsFolder !== undefined && typeof plugin.migrationsFolder !== 'string') throw problem('migrationsFolder must be a path');
  if (plugin.hooks !== undefined) {
    if (typeof plugin.hooks !== 'object' || plugin.hooks === null) throw problem('hooks must be an object of functions');
    for (const [name, hook] of Object.entries(plugin.hooks)) {
      if (!(hookNames as string[]).includes(name)) throw problem(`hooks.${name} is not a hook; the hooks are ${hookNames.join(', ')}`);
      if (typeof hook !== 'function') throw problem(`hooks.${name} must be a function`);
    }
  }
  return plugin;
}

/**
 * Names no plugin may take: `core` owns the core's tasks and pairs (a plugin of that name would get their
 * taskFinished), and the core's own capabilities are registered as the plugin `vasa`.
 */
const coreNames = ['core', vasaPlugin.name];

/** The table in the `drizzle` schema that records which of a plugin's own migrations have run. */
export function migrationsJournal(plugin: Plugin): string {
  return `__drizzle_migrations_${plugin.name.replace(/\W/g, '_')}`;
}

/**
 * Orders plugins so that each comes after the ones it names in `after` (those not loaded are ignored),
 * keeping the given order otherwise; a cycle is an error.
 */
export function orderPlugins(plugins: Plugin[]): Plugin[] {
  const byName = new Map<string, Plugin>();
  for (const plugin of plugins) {
    if (byName.has(plugin.name)) throw new Error(`Plugin ${plugin.name} is loaded twice`);
    byName.set(plugin.name, plugin);
  }
  const ordered: Plugin[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (plugin: Plugin, path: string[]) => {
    if (state.get(plugin.name) === 'done') return;
    if (state.get(plugin.name) === 'visiting') throw new Error(`Plugin order has a cycle: ${[...path, plugin.name].join(' -> ')}`);
    state.set(plugin.name, 'visiting');
    for (const name of plugin.after ?? []) {
      const dependency = byName.get(name);
      if (dependency) visit(dependency, [...path, plugin.name]);
    }
    state.set(plugin.name, 'done');
    ordered.push(plugin);
  };
  for (const plugin of plugins) visit(plugin, []);
  return ordered;
}

/** The plugins to load: built-ins less the disabled ones, then the extra ones, in dependency order. */
export function selectPlugins(builtIns: Plugin[], extra: Plugin[], disabled: string[]): Plugin[] {
  const unknown = disabled.filter((name) => !builtIns.some((p) => p.name === name));
  if (unknown.length > 0) throw new Error(`VVOLGRAPH_DISABLE_PLUGINS names no built-in plugin: ${unknown.join(', ')}`);
  const selected = [...builtIns.filter((p) => !disabled.includes(p.name)), ...extra];
  const taken = selected.find((p) => coreNames.includes(p.name));
  if (taken) throw new Error(`Plugin name ${taken.name} is the core's own: choose another`);
  // Names that differ only in punctuation would share one journal, and the second plugin's migrations would be taken as run.
  const journals = new Map<string, string>();
  for (const plugin of selected.filter((p) => p.migrationsFolder)) {
    const other = journals.get(migrationsJournal(plugin));
    if (other) throw new Error(`Plugins ${other} and ${plugin.name} would share the migrations journal drizzle.${migrationsJournal(plugin)}: rename one`);
    journals.set(migrationsJournal(plugin), plugin.name);
  }
  return orderPlugins(selected);
}
