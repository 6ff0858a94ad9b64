import SchemaBuilder from '@pothos/core';
import ErrorsPlugin from '@pothos/plugin-errors';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import ValidationPlugin from '@pothos/plugin-validation';
import type { Role } from '../core/config.ts';
import type { Core } from '../core/core.ts';
import type { Engine } from '../core/engine/engine.ts';
import { ForbiddenError, ValidationError } from '../core/errors.ts';
import type { Loaders } from './loaders.ts';

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

const requiredRole = (scopes: unknown) => (typeof scopes === 'object' && scopes ? Object.keys(scopes)[0] ?? null : null);

/** Roles nest: a storageAdmin may do all a vmAdmin may, a vmAdmin all a viewer may. */
export function createBuilder() {
  return new SchemaBuilder<SchemaTypes>({
    plugins: [ErrorsPlugin, RelayPlugin, ScopeAuthPlugin, ValidationPlugin],
    defaultFieldNullability: false,
    relay: {
      clientMutationId: 'omit',
      cursorType: 'String',
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
          requiredRole(result.failure.kind === 'AuthScope' ? { [result.failure.scope]: true } : null),
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
