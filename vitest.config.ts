import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // graphql 16 ships .mjs and .js side by side; one resolution order keeps a single copy
  // (two copies fail with "Cannot use GraphQLObjectType from another module or realm").
  resolve: { extensions: ['.js', '.mjs', '.ts', '.json'] },
  test: {
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    pool: 'forks',
    // vitest's default is one worker fewer than the cores: one file at a time on a 2-core machine. A file spends
    // much of its time waiting on the database, so one per core keeps both busy (6.5 → 3 min on PostgreSQL here).
    maxWorkers: availableParallelism(),
    testTimeout: 60_000,
    hookTimeout: 120_000,
    globalSetup: ['test/helpers/global-setup.ts'],
  },
});
