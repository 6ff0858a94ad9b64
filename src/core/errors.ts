/**
 * Domain failures. The GraphQL layer turns each class into a member of every mutation's result union,
 * so clients get a typed error instead of a string; services throw them, transactions roll back.
 */
export class DomainError extends Error {
  override name = 'DomainError';
  /** The `extensions` of the GraphQL error a field (not a mutation: those return typed results) raises with it. */
  get extensions(): Record<string, unknown> {
    return { code: this.name };
  }
}

export interface ValidationIssue {
  /** Dotted path of the offending input field, e.g. `input.disks.0.sizeBytes`. */
  field: string;
  message: string;
}

export class ValidationError extends DomainError {
  override name = 'ValidationError';
  readonly issues: ValidationIssue[];
  constructor(field: string, message: string, more: ValidationIssue[] = []) {
    super(message);
    this.issues = [{ field, message }, ...more];
  }
  get field(): string {
    return this.issues[0].field;
  }
  override get extensions(): Record<string, unknown> {
    return { code: this.name, field: this.field };
  }
  static of(issues: ValidationIssue[]): ValidationError {
    const [first, ...rest] = issues;
    return new ValidationError(first.field, first.message, rest);
  }
}

export class NotFoundError extends DomainError {
  override name = 'NotFoundError';
  constructor(readonly field: string, readonly id: string, message = `No object with id "${id}"`) {
    super(message);
  }
}

export class ConflictError extends DomainError {
  override name = 'ConflictError';
  /** The state that forbids the operation, when there is one (e.g. POWERED_ON). */
  constructor(message: string, readonly currentState: string | null = null) {
    super(message);
  }
}

export interface RuleCheck {
  capabilityId: string;
  pass: boolean;
  reason: string;
}

export interface ContainerRejection {
  containerId: string;
  containerName: string;
  failedRules: RuleCheck[];
}

export class CapacityError extends DomainError {
  override name = 'CapacityError';
  constructor(message: string, readonly requestedBytes: number, readonly rejections: ContainerRejection[] = []) {
    super(message);
  }
}

export class ForbiddenError extends DomainError {
  override name = 'ForbiddenError';
  constructor(message = 'Your role may not do this', readonly requiredRole: string | null = null) {
    super(message);
  }
}
