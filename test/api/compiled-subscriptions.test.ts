import { GraphQLError, GraphQLInt, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, GraphQLString, parse, type ExecutionResult } from 'graphql';
import { createYoga } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { useCompiledSubscriptionEvents } from '../../src/compiled-subscriptions.ts';

/** A stream of `{ n }` events from `from` up, three of them; `n = 13` cannot be shown. */
const Tick = new GraphQLObjectType({
  name: 'Tick',
  fields: {
    n: { type: new GraphQLNonNull(GraphQLInt) },
    label: {
      type: GraphQLString,
      args: { prefix: { type: new GraphQLNonNull(GraphQLString) } },
      resolve: (event: { n: number }, args: { prefix: string }) => {
        if (event.n === 13) throw new GraphQLError('unlucky');
        return `${args.prefix}${event.n}`;
      },
    },
  },
});
const schema = new GraphQLSchema({
  query: new GraphQLObjectType({ name: 'Query', fields: { ok: { type: GraphQLInt, resolve: () => 1 } } }),
  subscription: new GraphQLObjectType({
    name: 'Subscription',
    fields: {
      ticks: {
        type: new GraphQLNonNull(Tick),
        args: { from: { type: new GraphQLNonNull(GraphQLInt) } },
        subscribe: async function* (_root: unknown, args: { from: number }) {
          for (let n = args.from; n < args.from + 3; n++) yield { n };
        },
        resolve: (event: unknown) => event,
      },
    },
  }),
});

async function run(query: string, variables: Record<string, unknown> = {}): Promise<ExecutionResult[] | ExecutionResult> {
  const { subscribe, contextFactory } = createYoga({ schema, plugins: [useCompiledSubscriptionEvents()] }).getEnveloped({});
  const result = await subscribe({ schema, document: parse(query), variableValues: variables, contextValue: await contextFactory() });
  if (!(Symbol.asyncIterator in result)) return result as ExecutionResult;
  const events: ExecutionResult[] = [];
  for await (const event of result as AsyncIterable<ExecutionResult>) events.push(event);
  return events;
}

describe('subscriptions with compiled event execution', () => {
  it('hands the subscription field its arguments, written inline or as variables (graphql-jit 0.8 alone would hand it the variables)', async () => {
    const expected = [{ data: { ticks: { n: 5, label: 'n=5' } } }, { data: { ticks: { n: 6, label: 'n=6' } } }, { data: { ticks: { n: 7, label: 'n=7' } } }];
    expect(await run('subscription { ticks(from: 5) { n label(prefix: "n=") } }')).toEqual(expected);
    expect(await run('subscription($from: Int!, $p: String!) { ticks(from: $from) { n label(prefix: $p) } }', { from: 5, p: 'n=' })).toEqual(expected);
  });

  it('reports an error in one event with its path and goes on with the next', async () => {
    const events = (await run('subscription { ticks(from: 12) { n label(prefix: "#") } }')) as ExecutionResult[];
    expect(events.map((e) => e.data)).toEqual([{ ticks: { n: 12, label: '#12' } }, { ticks: { n: 13, label: null } }, { ticks: { n: 14, label: '#14' } }]);
    expect(events[1].errors?.map((e) => [e.message, e.path])).toEqual([['unlucky', ['ticks', 'label']]]);
  });

  it('answers bad variables with an error and no stream', async () => {
    const result = (await run('subscription($from: Int!) { ticks(from: $from) { n } }', { from: 'x' })) as ExecutionResult;
    expect(result.errors?.[0].message).toMatch(/\$from.*Int/);
  });
});
