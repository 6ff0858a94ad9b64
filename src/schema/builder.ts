import SchemaBuilder from '@pothos/core';
import ErrorsPlugin from '@pothos/plugin-errors';
import RelayPlugin, { decodeGlobalID } from '@pothos/plugin-relay';
import { GraphQLObjectType, type GraphQLSchema } from 'graphql';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import ValidationPlugin from '@pothos/plugin-validation';
import type { Role } from '../core/config.ts';
import type { Core } from '../core/core.ts';
import type { Engine } from '../core/engine/engine.ts';
import { ForbiddenError, ValidationError } from '../core/errors.ts';
import type { Loaders } from './loaders.ts';
import { isUuid } from './refs.ts';

export interface Services {
  core: Core;
  engine: Engine;
}

export interface Context {
  role: Role | null;
  services: Services;
  loaders: Loaders;
}

export interface SchemaTypes {
  Context: Context;
  AuthScopes: { viewer: boolean; vmAdmin: boolean; storageAdmin: boolean };
  Scalars: {
    Bytes: { Input: number; Output: number };
    JSON: { Input: unknown; Output: unknown };
    DateTime: { Input: Date; Output: Date };
  };
  DefaultFieldNullability: false;
}

/** The scope that failed: a field's `authScopes: { vmAdmin: true }` fails as AnyAuthScopes wrapping one AuthScope failure. */

/** Whether a decoded global id can name a node at all: a Node type and a uuid. Anything else is simply not found. */
function nameable(id: { typename: string; id: string }, schema: GraphQLSchema): boolean {
  const type = schema.getType(id.typename);
  return type instanceof GraphQLObjectType && type.getInterfaces().some((i) => i.name === 'Node') && isUuid(id.id);
}

const requiredRole = (failure: any): string | null =>
  failure?.kind === 'AuthScope' ? String(failure.scope) : Array.isArray(failure?.failures) ? (failure.failures.map(requiredRole).find(Boolean) ?? null) : null;

/** Roles nest: a storageAdmin may do all a vmAdmin may, a vmAdmin all a viewer may. */
export function createBuilder() {
  return new SchemaBuilder<SchemaTypes>({
    plugins: [ErrorsPlugin, RelayPlugin, ScopeAuthPlugin, ValidationPlugin],
    defaultFieldNullability: false,
    relay: {
      clientMutationId: 'omit',
      cursorType: 'String',
      // Relay's node(id) answers null for an id that names nothing, however malformed.
      decodeGlobalID: (globalID: string) => {
        try {
          return decodeGlobalID(globalID);
        } catch {
          return { typename: '', id: globalID };
        }
      },
      nodeQueryOptions: {
        resolve: (_root, { id }, _ctx, info, resolveNode) => (nameable(id, info.schema) ? resolveNode(id) : null),
      },
      nodesQueryOptions: {
        resolve: async (_root, args, _ctx, info, resolveNodes) => {
          const ids = args.ids;
          const valid = ids.filter((id) => nameable(id, info.schema));
          // plugin-relay 4.8's resolveNodes callback ignores its argument and reads args.ids.
          args.ids = valid;
          const found = new Map((await resolveNodes(valid)).map((node, i) => [valid[i], node]));
          return ids.map((id) => found.get(id) ?? null);
        },
      },
    },
    scopeAuth: {
      authorizeOnSubscribe: true,
      authScopes: (ctx) => ({
        viewer: ctx.role !== null,
        vmAdmin: ctx.role === 'vmAdmin' || ctx.role === 'storageAdmin',
        storageAdmin: ctx.role === 'storageAdmin',
      }),
      unauthorizedError: (_parent, ctx, info, result) =>
        new ForbiddenError(
          ctx.role ? `Role ${ctx.role} may not use ${info.parentType.name}.${info.fieldName}` : 'Authentication required',
          requiredRole(result.failure),
        ),
    },
    errors: { unsafelyHandleInputErrors: true },
    validation: {
      validationError: (result) =>
        ValidationError.of(
          result.issues.map((issue) => ({
            field: (issue.path ?? []).map((p) => String(typeof p === 'object' ? p.key : p)).join('.') || 'input',
            message: issue.message,
          })),
        ),
    },
  });
}

export type Builder = ReturnType<typeof createBuilder>;
