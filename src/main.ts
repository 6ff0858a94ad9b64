import { readFileSync } from 'node:fs';
import { printSchema } from 'graphql';
import { createApp, loadPlugins, openConfiguredDatabase } from './app.ts';
import { ConfigError, loadConfig } from './core/config.ts';
import { buildSchema } from './schema/index.ts';

const SCHEMA_FILE = 'schema.graphql';

async function printedSchema(): Promise<string> {
  // The checked-in schema is that of the built-in plugins, whatever VVOLGRAPH_PLUGINS says.
  const config = loadConfig({ ...process.env, VVOLGRAPH_PLUGINS: '', VVOLGRAPH_DISABLE_PLUGINS: '' });
  return `${printSchema(buildSchema(await loadPlugins(config)))}\n`;
}

async function serve(): Promise<void> {
  const config = loadConfig();
  const app = await createApp(config);
  const where = config.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : config.embedded === 'memory' ? 'embedded PGlite, in memory' : `embedded PGlite in ${config.dataDir}`;
  console.log(`vvolgraph listening on ${app.url}/graphql (GraphiQL in a browser), database: ${where}, clock: ${config.clock}`);
  console.log(`plugins: ${app.core.plugins.map((p) => `${p.name}@${p.version}`).join(', ')}`);
  if (config.tokensGenerated) {
    console.log('Bearer tokens for this run (set VVOLGRAPH_TOKENS to choose your own):');
    for (const [role, token] of app.tokens) console.log(`  ${role.padEnd(12)} ${token}`);
  }
  const stop = async () => {
    await app.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

async function main(command = 'serve'): Promise<void> {
  switch (command) {
    case 'serve':
      return serve();
    case 'migrate': {
      const database = await openConfiguredDatabase(loadConfig());
      await database.migrate();
      await database.close();
      return;
    }
    case 'print-schema':
      process.stdout.write(await printedSchema());
      return;
    case 'check-schema': {
      const current = await printedSchema();
      if (readFileSync(SCHEMA_FILE, 'utf8') !== current) {
        console.error(`${SCHEMA_FILE} does not match the code: run npm run schema:print and commit the result`);
        process.exit(1);
      }
      console.log(`${SCHEMA_FILE} matches the code`);
      return;
    }
    default:
      console.error(`unknown command ${command}: serve | migrate | print-schema | check-schema`);
      process.exit(2);
  }
}

main(process.argv[2]).catch((error) => {
  console.error(error instanceof ConfigError ? `configuration: ${error.message}` : error);
  process.exit(1);
});
