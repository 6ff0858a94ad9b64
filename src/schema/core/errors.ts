import { CapacityError, ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../core/errors.ts';
import type { Builder } from '../builder.ts';

/** The typed errors of every mutation's result union; all implement `UserError`. */
export function addErrorTypes(builder: Builder) {
  const UserError = builder.interfaceRef<Error>('UserError').implement({
    description: 'A failure the caller can act on; nothing was changed.',
    fields: (t) => ({ message: t.exposeString('message') }),
  });

  const Issue = builder.objectRef<{ field: string; message: string }>('ValidationIssue').implement({
    fields: (t) => ({ field: t.exposeString('field'), message: t.exposeString('message') }),
  });

  builder.objectType(ValidationError, {
    name: 'ValidationError',
    description: 'The input is wrong; `field` is the dotted path of the (first) offending input field.',
    interfaces: [UserError],
    fields: (t) => ({
      field: t.string({ resolve: (e) => e.field }),
      issues: t.field({ type: [Issue], resolve: (e) => e.issues }),
    }),
  });

  builder.objectType(NotFoundError, {
    name: 'NotFoundError',
    description: 'An id names nothing (or is malformed, or names an object of another type).',
    interfaces: [UserError],
    fields: (t) => ({ field: t.exposeString('field'), id: t.exposeString('id') }),
  });

  builder.objectType(ConflictError, {
    name: 'ConflictError',
    description: 'The operation is not allowed in the current state.',
    interfaces: [UserError],
    fields: (t) => ({ currentState: t.exposeString('currentState', { nullable: true }) }),
  });

  const RuleCheck = builder.objectRef<{ capabilityId: string; pass: boolean; reason: string }>('RuleCheck').implement({
    description: 'One placement check of one container: a policy rule, the free space or the largest VVOL.',
    fields: (t) => ({ capabilityId: t.exposeString('capabilityId'), pass: t.exposeBoolean('pass'), reason: t.exposeString('reason') }),
  });

  const Rejection = builder.objectRef<CapacityError['rejections'][number]>('ContainerRejection').implement({
    fields: (t) => ({
      containerId: t.exposeString('containerId'),
      containerName: t.exposeString('containerName'),
      failedRules: t.field({ type: [RuleCheck], resolve: (r) => r.failedRules }),
    }),
  });

  builder.objectType(CapacityError, {
    name: 'CapacityError',
    description: 'No container can hold it; each container is listed with the checks it failed.',
    interfaces: [UserError],
    fields: (t) => ({
      requestedBytes: t.field({ type: 'Bytes', resolve: (e) => e.requestedBytes }),
      containers: t.field({ type: [Rejection], resolve: (e) => e.rejections }),
    }),
  });

  builder.objectType(ForbiddenError, {
    name: 'ForbiddenError',
    description: 'The caller\'s role may not do this.',
    interfaces: [UserError],
    fields: (t) => ({ requiredRole: t.exposeString('requiredRole', { nullable: true }) }),
  });
  return { RuleCheck };
}
