import { randomBytes } from 'node:crypto';

export type Role = 'storageAdmin' | 'vmAdmin' | 'viewer';
export const roles: readonly Role[] = ['storageAdmin', 'vmAdmin', 'viewer'];

export interface AppConfig {
  port: number;
  databaseUrl: string | undefined;
  /** Where PGlite keeps its files; `memory` keeps nothing. Ignored when databaseUrl is set. */
  embedded: 'file' | 'memory';
  dataDir: string;
  tokens: Map<string, Role>;
  tokensGenerated: boolean;
  clock: 'realtime' | 'manual';
  tickMs: number;
  /** Simulated minutes of per-minute I/O history kept (older minutes are pruned as new ones are written). */
  ioHistoryMinutes: number;
  seed: string;
  demo: boolean;
  extraPlugins: string[];
  disabledPlugins: string[];
  redisUrl: string | undefined;
}

export class ConfigError extends Error {}

function list(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

function flag(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  return ['1', 'true', 'yes', 'on'].includes(value.toLowerCase());
}

export function parseTokens(spec: string): Map<string, Role> {
  const tokens = new Map<string, Role>();
  for (const entry of list(spec)) {
    const at = entry.indexOf(':');
    const role = entry.slice(0, at) as Role;
    const token = entry.slice(at + 1);
    if (at < 1 || !roles.includes(role) || token.length < 8) {
      throw new ConfigError(`VVOLGRAPH_TOKENS: "${entry}" is not role:token with a role of ${roles.join(', ')} and a token of 8+ characters`);
    }
    tokens.set(token, role);
  }
  return tokens;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const databaseUrl = env.DATABASE_URL || undefined;
  const embedded = env.VVOLGRAPH_DB === 'memory' ? 'memory' : 'file';
  if (env.VVOLGRAPH_DB && !['file', 'memory'].includes(env.VVOLGRAPH_DB)) {
    throw new ConfigError('VVOLGRAPH_DB must be file or memory');
  }
  const clock = env.VVOLGRAPH_CLOCK ?? 'realtime';
  if (clock !== 'realtime' && clock !== 'manual') throw new ConfigError('VVOLGRAPH_CLOCK must be realtime or manual');
  const tickMs = Number(env.VVOLGRAPH_TICK_MS ?? 1000);
  if (!Number.isInteger(tickMs) || tickMs < 10) throw new ConfigError('VVOLGRAPH_TICK_MS must be an integer >= 10');
  const ioHistoryMinutes = Number(env.VVOLGRAPH_IO_HISTORY_MINUTES ?? 1440);
  if (!Number.isInteger(ioHistoryMinutes) || ioHistoryMinutes < 1) throw new ConfigError('VVOLGRAPH_IO_HISTORY_MINUTES must be an integer >= 1');
  const port = Number(env.PORT ?? 4000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError('PORT must be 0..65535');

  let tokens: Map<string, Role>;
  let tokensGenerated = false;
  if (env.VVOLGRAPH_TOKENS) {
    tokens = parseTokens(env.VVOLGRAPH_TOKENS);
  } else {
    tokens = new Map(roles.map((role) => [`${role}-${randomBytes(12).toString('base64url')}`, role] as const));
    tokensGenerated = true;
  }

  return {
    port,
    databaseUrl,
    embedded,
    dataDir: env.VVOLGRAPH_DATA_DIR ?? '.vvolgraph/db',
    tokens,
    tokensGenerated,
    clock,
    tickMs,
    ioHistoryMinutes,
    seed: env.VVOLGRAPH_SEED ?? 'vvolgraph',
    demo: flag(env.VVOLGRAPH_DEMO, !databaseUrl),
    extraPlugins: list(env.VVOLGRAPH_PLUGINS),
    disabledPlugins: list(env.VVOLGRAPH_DISABLE_PLUGINS),
    redisUrl: env.REDIS_URL || undefined,
  };
}
