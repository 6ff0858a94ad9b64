import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { useGraphQlJit } from '@envelop/graphql-jit';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { getOperationAST, getVariableValues, GraphQLError, type GraphQLSchema } from 'graphql';
import { createYoga, type Plugin as YogaPlugin } from 'graphql-yoga';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { sql } from 'drizzle-orm';
import { useCompiledSubscriptionEvents } from './compiled-subscriptions.ts';
import type { Role } from './core/config.ts';
import { DomainError } from './core/errors.ts';
import type { Context, Services } from './schema/builder.ts';
import { Loaders } from './schema/loaders.ts';

/** Limits every operation must pass before it runs; the messages say which limit and what it is. */
export const queryLimits = { maxDepth: 12, maxAliases: 20, maxCost: 200_000, maxTokens: 10_000, maxDirectives: 20 };

function bearer(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const match = /^Bearer\s+(.+)$/i.exec(value.trim());
  return match ? match[1] : value.trim() || null;
}

export interface HttpServer {
  server: Server;
  close(): Promise<void>;
}

export function createHttpServer(services: Services, schema: GraphQLSchema): HttpServer {
  const { core } = services;
  const tokens = core.config.tokens;
  const roleOf = (token: string | null): Role | null => (token ? tokens.get(token) ?? null : null);

  const authenticate: YogaPlugin = {
    // Every request yoga gets, not only /graphql: yoga also serves GraphQL on /graphql/ and on any path ending in it.
    onRequest({ request, endResponse, fetchAPI }) {
      const wantsGraphiql = request.method === 'GET' && (request.headers.get('accept') ?? '').includes('text/html');
      if (wantsGraphiql || request.method === 'OPTIONS') return;
      if (roleOf(bearer(request.headers.get('authorization')))) return;
      endResponse(
        new fetchAPI.Response(JSON.stringify({ errors: [{ message: 'A valid bearer token is required (Authorization: Bearer <token>)', extensions: { code: 'UNAUTHENTICATED' } }] }), {
          status: 401,
          headers: { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="vvolgraph"' },
        }),
      );
    },
  };

  const countStatements: YogaPlugin = {
    onExecute() {
      return {
        onExecuteDone({ result, setResult }) {
          const scope = core.database.statements.scope();
          if (scope && !(Symbol.asyncIterator in result)) setResult({ ...result, extensions: { ...result.extensions, sqlStatements: scope.count } });
        },
      };
    },
  };

  const yoga = createYoga<{ req?: IncomingMessage; connectionParams?: Record<string, unknown> }, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: {
      title: 'vvolgraph',
      defaultQuery: '# Put your token in the Headers tab: {"Authorization": "Bearer <token>"}\nquery { viewer { role } virtualMachines(first: 5) { totalCount edges { node { name powerState virtualVolumes { type bindState storageContainer { name } } } } } }\n',
    },
    context: ({ request, connectionParams }) => {
      const token = connectionParams ? bearer(connectionParams.authorization ?? connectionParams.Authorization ?? connectionParams.token) : bearer(request.headers.get('authorization'));
      return { role: roleOf(token), services, loaders: new Loaders(core, (id) => services.engine.lastTickIo(id)) };
    },
    maskedErrors: {
      // Errors meant for the client go out as raised, with the path of the field that raised them (graphql-js
      // takes a DomainError's `extensions`); yoga logs every other one, which the client sees masked.
      // A DomainError is rewrapped without its originalError: yoga counts a wrapped non-GraphQL error as
      // unexpected, and answers HTTP 500 when there is no data, as for a subscription refusing its arguments.
      maskError(error, message) {
        const original = error instanceof GraphQLError ? error.originalError : error;
        if (original instanceof DomainError) {
          const raised = error instanceof GraphQLError ? error : undefined;
          return new GraphQLError(original.message, { nodes: raised?.nodes, source: raised?.source, positions: raised?.positions, path: raised?.path, extensions: original.extensions });
        }
        if (error instanceof GraphQLError && (!original || original instanceof GraphQLError)) return error;
        if (isNulInText(original)) {
          return new GraphQLError('A string argument holds a NUL character (U+0000), which PostgreSQL text cannot store', { path: error instanceof GraphQLError ? error.path : undefined, extensions: { code: 'BAD_USER_INPUT' } });
        }
        return new GraphQLError(message);
      },
    },
    plugins: [
      authenticate,
      countStatements,
      EnvelopArmorPlugin({
        maxDepth: { n: queryLimits.maxDepth, ignoreIntrospection: true },
        maxAliases: { n: queryLimits.maxAliases },
        costLimit: { maxCost: queryLimits.maxCost },
        maxTokens: { n: queryLimits.maxTokens },
        maxDirectives: { n: queryLimits.maxDirectives },
        blockFieldSuggestion: { enabled: false },
      }),
      // Compiled execution: it halves the CPU of the mapping query, and of each subscription event.
      // Subscriptions go through their own plugin (see there), not graphql-jit's subscribe. Variables
      // that do not coerce are left to graphql-js, whose errors give the path in the variable and the
      // reason ('... at "input.copyControl"; Value "ASYNC" does not exist in "CopyControl" enum.');
      // graphql-jit's name the leaf as if it were a variable ('Variable "$copyControl" ...').
      useGraphQlJit({}, {
        enableIf: (args) => {
          const operation = getOperationAST(args.document, args.operationName);
          if (!operation || operation.operation === 'subscription') return false;
          return !getVariableValues(args.schema, operation.variableDefinitions ?? [], args.variableValues ?? {}, { maxErrors: 1 }).errors;
        },
      }),
      useCompiledSubscriptionEvents(),
    ],
  });

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok' }));
      return;
    }
    if (path === '/ready') {
      core.db
        .execute(sql`select 1`)
        .then(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ready', database: core.database.kind })))
        .catch(() => res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'unavailable' })));
      return;
    }
    core.database.statements.run(() => yoga.handle(req, res, { req }));
  });

  // Under heavy load the event loop can stall for seconds; Node's 5 s keep-alive default then closes
  // connections that already carry the client's next request (clients see ECONNRESET).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  const wsServer = new WebSocketServer({ server, path: '/graphql' });
  const ws = useServer(
    {
      execute: (args: any) => args.rootValue.execute(args),
      subscribe: (args: any) => args.rootValue.subscribe(args),
      onConnect: (ctx) => {
        const params = ctx.connectionParams ?? {};
        return roleOf(bearer(params.authorization ?? params.Authorization ?? params.token)) !== null;
      },
      onSubscribe: async (ctx, _id, payload) => {
        const { schema: enveloped, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
          connectionParams: ctx.connectionParams ?? {},
        });
        const document = parse(payload.query);
        const errors = validate(enveloped, document);
        if (errors.length > 0) return errors;
        return {
          schema: enveloped,
          operationName: payload.operationName,
          document,
          variableValues: payload.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
      },
    },
    wsServer,
  );

  return {
    server,
    close: async () => {
      await ws.dispose();
      await new Promise<void>((resolve) => wsServer.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** PostgreSQL refused a string with U+0000 in it (SQLSTATE 22021): the client's input, not a server fault. The driver's error may be wrapped (drizzle's `cause`). */
function isNulInText(error: unknown): boolean {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.code === '22021') return true;
  }
  return false;
}
