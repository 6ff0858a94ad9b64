import { defineConfig } from 'vitest/config';

export default defineConfig({
  // graphql 16 ships .mjs and .js side by side; one resolution order keeps a single copy
  // (two copies fail with "Cannot use GraphQLObjectType from another module or realm").
  resolve: { extensions: ['.js', '.mjs', '.ts', '.json'] },
  test: {
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    globalSetup: ['test/helpers/global-setup.ts'],
  },
});
