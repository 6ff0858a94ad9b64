import { readFileSync } from 'node:fs';
import { buildSchema, parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';

/** The README's GraphQL examples are what a new user pastes into GraphiQL first: each must run against the schema. */
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
// schema.graphql is the code's schema: CI checks that they match (`npm run schema:check`).
const schema = buildSchema(readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8'));
const examples = [...readme.matchAll(/```graphql\n([\s\S]*?)```/g)].map((m) => m[1]);

describe('the README\'s GraphQL examples', () => {
  it('are there', () => {
    expect(examples.length).toBeGreaterThanOrEqual(8);
  });

  for (const [i, example] of examples.entries()) {
    it(`example ${i + 1} (${example.trim().split('\n')[0]}) parses and validates against the schema`, () => {
      expect(validate(schema, parse(example)).map((e) => e.message)).toEqual([]);
    });
  }
});
