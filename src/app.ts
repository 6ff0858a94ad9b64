import type { AddressInfo } from 'node:net';
import type { GraphQLSchema } from 'graphql';
import { createBus } from './core/bus.ts';
import type { AppConfig, Role } from './core/config.ts';
import { Core } from './core/core.ts';
import { openDatabase, type DatabaseHandle } from './core/db/client.ts';
import { seedDemo } from './core/demo.ts';
import { Engine } from './core/engine/engine.ts';
import type { Plugin } from './core/plugin.ts';
import { importPlugins, migrationsJournal, selectPlugins } from './core/plugin-loader.ts';
import { vasaPlugin } from './core/vasa.ts';
import { builtInPlugins } from './plugins/index.ts';
import { buildSchema } from './schema/index.ts';
import { createHttpServer } from './server.ts';

export interface App {
  core: Core;
  engine: Engine;
  schema: GraphQLSchema;
  /** http://127.0.0.1:<port> once listening. */
  url: string;
  tokens: Map<Role, string>;
  close(): Promise<void>;
}

export interface AppOptions {
  /** An already opened (and possibly already migrated) database, e.g. a test's copy of a template. */
  database?: DatabaseHandle;
  /** Replaces the built-in plugins (the core's `vasa` is always loaded). */
  builtIns?: Plugin[];
  listen?: boolean;
}

export async function loadPlugins(config: AppConfig, builtIns: Plugin[] = builtInPlugins): Promise<Plugin[]> {
  return [vasaPlugin, ...selectPlugins(builtIns, await importPlugins(config.extraPlugins), config.disabledPlugins)];
}

export function openConfiguredDatabase(config: AppConfig): Promise<DatabaseHandle> {
  return openDatabase(
    config.databaseUrl
      ? { kind: 'postgres', url: config.databaseUrl }
      : { kind: 'pglite', dataDir: config.embedded === 'file' ? config.dataDir : undefined },
  );
}

/** A plugin's own migrations; one that fails (a table name the core has, bad SQL) names the plugin. */
async function migratePlugin(database: DatabaseHandle, plugin: Plugin, folder: string): Promise<void> {
  try {
    await database.migrate(folder, migrationsJournal(plugin));
  } catch (error) {
    const cause = error instanceof Error ? (error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message) : String(error);
    throw new Error(`Plugin ${plugin.name}: its migrations in ${folder} failed: ${cause}`, { cause: error });
  }
}

/** Opens the database, migrates it, loads plugins, seeds the demo if asked, builds the schema and listens. */
export async function createApp(config: AppConfig, options: AppOptions = {}): Promise<App> {
  const plugins = await loadPlugins(config, options.builtIns);
  // Before the database is touched: a plugin whose schema does not fit stops here, with its name.
  const schema = buildSchema(plugins);
  const database = options.database ?? (await openConfiguredDatabase(config));
  try {
    await database.migrate();
    for (const plugin of plugins) {
      if (plugin.migrationsFolder) await migratePlugin(database, plugin, plugin.migrationsFolder);
    }
  } catch (error) {
    await database.close();
    throw error;
  }
  const bus = await createBus(config.redisUrl);
  const core = new Core(config, database, bus.bus, plugins);
  const engine = new Engine(core);
  await core.taskQueue.start();
  if (config.demo) await seedDemo(core);
  await engine.start();
  core.reconciler.kick();
  const http = createHttpServer({ core, engine }, schema);
  let url = '';
  const close = async () => {
    await engine.stop();
    await http.close();
    await core.reconciler.settled();
    await core.taskQueue.stop();
    await bus.close();
    await database.close();
  };
  if (options.listen !== false) {
    try {
      await new Promise<void>((resolve, reject) => {
        http.server.once('error', reject);
        http.server.listen(config.port, '127.0.0.1', () => {
          http.server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      // A port already taken would otherwise leave a server that ticks but never answers.
      await close();
      throw error;
    }
    url = `http://127.0.0.1:${(http.server.address() as AddressInfo).port}`;
  }
  return {
    core,
    engine,
    schema,
    url,
    tokens: new Map([...config.tokens].map(([token, role]) => [role, token])),
    close,
  };
}
