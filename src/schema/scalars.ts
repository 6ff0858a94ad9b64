import { GraphQLError, Kind, type ValueNode } from 'graphql';
import type { Builder } from './builder.ts';

function literal(node: ValueNode): unknown {
  switch (node.kind) {
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.STRING:
    case Kind.ENUM:
      return node.value;
    case Kind.BOOLEAN:
      return node.value;
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return node.values.map(literal);
    case Kind.OBJECT:
      return Object.fromEntries(node.fields.map((f) => [f.name.value, literal(f.value)]));
    default:
      throw new GraphQLError('Variables are not allowed inside JSON literals');
  }
}

/**
 * `Bytes` is a byte count beyond GraphQL's 32-bit Int. Parsing accepts any number so that a bad size
 * (zero, negative, fractional) reaches validation and comes back as a typed ValidationError naming the
 * field, instead of failing the whole request.
 */
export function addScalars(builder: Builder): void {
  builder.scalarType('Bytes', {
    description: 'A number of bytes (an integer up to 2^53 - 1).',
    serialize: (value) => Number(value),
    parseValue: (value) => {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof n !== 'number' || Number.isNaN(n)) throw new GraphQLError(`Bytes must be a number, got ${JSON.stringify(value)}`);
      return n;
    },
    parseLiteral: (node) => {
      if (node.kind !== Kind.INT && node.kind !== Kind.FLOAT && node.kind !== Kind.STRING) throw new GraphQLError('Bytes must be a number');
      return Number(node.value);
    },
  });
  builder.scalarType('JSON', {
    description: 'Any JSON value: a capability value (boolean, number, string, or {min, max} for a RANGE).',
    serialize: (value) => value,
    parseValue: (value) => value,
    parseLiteral: (node) => literal(node),
  });
  builder.scalarType('DateTime', {
    description: 'An ISO-8601 timestamp.',
    serialize: (value) => (value instanceof Date ? value.toISOString() : String(value)),
    parseValue: (value) => {
      const date = new Date(String(value));
      if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime must be an ISO-8601 timestamp');
      return date;
    },
  });
}
