import { existsSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Plugin } from './plugin.ts';

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
      return checkPlugin(module.default ?? module.plugin, specifier);
    }),
  );
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

function checkPlugin(value: unknown, source: string): Plugin {
  const plugin = value as Plugin;
  if (typeof plugin !== 'object' || plugin === null || typeof plugin.name !== 'string' || typeof plugin.version !== 'string') {
    throw new Error(`${source} does not export a plugin (an object with a name and a version) as default`);
  }
  return plugin;
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
  return orderPlugins([...builtIns.filter((p) => !disabled.includes(p.name)), ...extra]);
}
