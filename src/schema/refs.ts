import { decodeGlobalID } from '@pothos/plugin-relay';
import type { InputFieldBuilder, InputFieldMap, ObjectFieldBuilder, ObjectRef, FieldMap } from '@pothos/core';
import type { alarms, events, poolTiers, protocolEndpoints, snapshots, storageArrays, storagePolicies, storagePools, tasks, virtualDisks } from '../core/db/tables.ts';
import { CapacityError, ConflictError, ForbiddenError, NotFoundError, ValidationError, type ValidationIssue } from '../core/errors.ts';
import type { StorageContainerRow, VirtualMachineRow, VirtualVolumeRow } from '../core/plugin.ts';
import type { UnitOfWork } from '../core/unit-of-work.ts';
import type { PairRow } from '../core/pairs.ts';
import type { Builder, Context, SchemaTypes as Declared } from './builder.ts';
import type { Enums } from './core/enums.ts';

type SchemaTypes = PothosSchemaTypes.ExtendDefaultTypes<Declared>;

export type SchemaBuilder = Builder;
export type Scope = 'storageAdmin' | 'vmAdmin' | 'viewer';

type Rows = {
  StorageArray: typeof storageArrays.$inferSelect;
  StoragePool: typeof storagePools.$inferSelect;
  PoolTier: typeof poolTiers.$inferSelect;
  StorageContainer: StorageContainerRow;
  ProtocolEndpoint: typeof protocolEndpoints.$inferSelect;
  StoragePolicy: typeof storagePolicies.$inferSelect;
  VirtualMachine: VirtualMachineRow;
  VirtualDisk: typeof virtualDisks.$inferSelect;
  VirtualVolume: VirtualVolumeRow;
  Snapshot: typeof snapshots.$inferSelect;
  Task: typeof tasks.$inferSelect;
  ReplicaPair: PairRow;
  Event: typeof events.$inferSelect;
  Alarm: typeof alarms.$inferSelect;
};

/** How many times a mutation PostgreSQL aborted as a deadlock victim runs again. */
const TRANSIENT_RETRIES = 3;

export interface MutationSpec<Payload extends object> {
  /** camelCase field name; types are named after it: `<Name>Input`, `<Name>Payload`, `<Name>Result`. */
  name: string;
  description: string;
  scope: Scope;
  input: (t: InputFieldBuilder<SchemaTypes, 'InputObject'>) => InputFieldMap;
  payload: (t: ObjectFieldBuilder<SchemaTypes, Payload>) => FieldMap;
  /**
   * False when the resolver changes state outside the database (the simulation's in-memory state):
   * it is then not run again after a deadlock.
   */
  retryable?: boolean;
  /** True when the resolver runs ticks (advanceSimulation): see Core.transact. */
  advancesClock?: boolean;
  /** Runs inside the mutation's one transaction; a thrown domain error rolls it back and becomes a typed result. */
  resolve: (input: any, work: UnitOfWork, ctx: Context) => Promise<Payload>;
}

/** What a plugin's `schema(builder, refs)` gets: the core's types to hang fields on, and the helpers. */
export interface SchemaRefs {
  StorageArray: ObjectRef<SchemaTypes, Rows['StorageArray']>;
  StoragePool: ObjectRef<SchemaTypes, Rows['StoragePool']>;
  StorageContainer: ObjectRef<SchemaTypes, Rows['StorageContainer']>;
  ProtocolEndpoint: ObjectRef<SchemaTypes, Rows['ProtocolEndpoint']>;
  StoragePolicy: ObjectRef<SchemaTypes, Rows['StoragePolicy']>;
  VirtualMachine: ObjectRef<SchemaTypes, Rows['VirtualMachine']>;
  VirtualVolume: ObjectRef<SchemaTypes, Rows['VirtualVolume']>;
  Snapshot: ObjectRef<SchemaTypes, Rows['Snapshot']>;
  Task: ObjectRef<SchemaTypes, Rows['Task']>;
  /** A replication pair (MV and RV) of ddr or rdr. */
  ReplicaPair: ObjectRef<SchemaTypes, Rows['ReplicaPair']>;
  /** The core's enums, for a plugin's fields of those types. */
  enums: Enums;
  /** Every typed error a mutation may return. */
  errors: (new (...args: never[]) => Error)[];
  /** Defines a mutation the way every core mutation is defined. */
  mutation<Payload extends object>(spec: MutationSpec<Payload>): void;
  /** A global id to the row id it names, or a NotFoundError naming `field` if it is malformed or of another type. */
  decodeId(id: string, types: string[], field: string): { typename: string; id: string };
}

export type { Rows };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Whether a string is a uuid, as every row id is: a malformed one must not reach a uuid column. */
export const isUuid = (value: string) => UUID.test(value);

export function decodeId(id: string, types: string[], field: string): { typename: string; id: string } {
  let decoded: { typename: string; id: string };
  try {
    decoded = decodeGlobalID(id);
  } catch {
    throw new NotFoundError(field, id, `"${id}" is not a global id`);
  }
  if (!types.includes(decoded.typename)) {
    throw new NotFoundError(field, id, `"${id}" is a ${decoded.typename || 'malformed'} id; ${field} takes a ${types.join(' or ')} id`);
  }
  if (!isUuid(decoded.id)) throw new NotFoundError(field, id, `"${id}" names no ${decoded.typename}`);
  return decoded;
}

/** Services look rows up by row id; a NotFoundError names the (global) id the client sent in that field. */
function echoSentId(error: unknown, args: { input: unknown }): unknown {
  if (!(error instanceof NotFoundError)) return error;
  const sent = error.field.split('.').reduce<any>((value, key) => value?.[key], args);
  return typeof sent === 'string' && sent !== error.id ? new NotFoundError(error.field, sent, error.message) : error;
}

/** Every string of a mutation's input (JSON values' keys too) holding U+0000, which PostgreSQL text cannot store, by its path. */
function nulIssues(value: unknown, path: string): ValidationIssue[] {
  const issue = (what: string) => ({ field: path, message: `${what} holds a NUL character (U+0000), which PostgreSQL text cannot store` });
  if (typeof value === 'string') return value.includes('\0') ? [issue(path)] : [];
  if (Array.isArray(value)) return value.flatMap((item, i) => nulIssues(item, `${path}.${i}`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, item]) => (key.includes('\0') ? [issue(`A key of ${path}`)] : nulIssues(item, `${path}.${key}`)));
}

export const errorClasses = [ValidationError, NotFoundError, ConflictError, CapacityError, ForbiddenError];

const pascal = (name: string) => name[0].toUpperCase() + name.slice(1);

export function createRefs(builder: Builder, enums: Enums): SchemaRefs {
  const mutation = <Payload extends object>(spec: MutationSpec<Payload>) => {
    const Name = pascal(spec.name);
    const Input = builder.inputType(`${Name}Input`, { fields: spec.input });
    const Payload = builder.objectRef<Payload>(`${Name}Payload`).implement({ fields: spec.payload as never });
    builder.mutationField(spec.name, (t) =>
      t.field({
        type: Payload,
        description: spec.description,
        authScopes: { [spec.scope]: true },
        errors: { types: errorClasses, directResult: true, union: { name: `${Name}Result` } },
        args: { input: t.arg({ type: Input, required: true }) },
        resolve: (async (_root: unknown, args: { input: unknown }, ctx: Context) => {
          const issues = nulIssues(args.input, 'input');
          if (issues.length > 0) throw ValidationError.of(issues);
          const { core } = ctx.services;
          const result = await core.transact((work) => spec.resolve(args.input, work, ctx), { retries: spec.retryable === false ? 0 : TRANSIENT_RETRIES, advancesClock: spec.advancesClock }).catch((error) => {
            throw echoSentId(error, args);
          });
          core.reconciler.kick();
          return result;
        }) as never,
      }),
    );
  };
  return {
    enums,
    StorageArray: builder.objectRef<Rows['StorageArray']>('StorageArray'),
    StoragePool: builder.objectRef<Rows['StoragePool']>('StoragePool'),
    StorageContainer: builder.objectRef<Rows['StorageContainer']>('StorageContainer'),
    ProtocolEndpoint: builder.objectRef<Rows['ProtocolEndpoint']>('ProtocolEndpoint'),
    StoragePolicy: builder.objectRef<Rows['StoragePolicy']>('StoragePolicy'),
    VirtualMachine: builder.objectRef<Rows['VirtualMachine']>('VirtualMachine'),
    VirtualVolume: builder.objectRef<Rows['VirtualVolume']>('VirtualVolume'),
    Snapshot: builder.objectRef<Rows['Snapshot']>('Snapshot'),
    ReplicaPair: builder.objectRef<Rows['ReplicaPair']>('ReplicaPair'),
    Task: builder.objectRef<Rows['Task']>('Task'),
    errors: errorClasses,
    mutation,
    decodeId,
  };
}
