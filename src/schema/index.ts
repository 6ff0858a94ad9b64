import type { GraphQLSchema } from 'graphql';
import type { Plugin } from '../core/plugin.ts';
import { createBuilder } from './builder.ts';
import { addConnectionFields } from './connections.ts';
import { addEnums } from './core/enums.ts';
import { addErrorTypes } from './core/errors.ts';
import { addInventory } from './core/inventory.ts';
import { addIo } from './core/io.ts';
import { addOperations } from './core/operations.ts';
import { addPolicies } from './core/policies.ts';
import { addReplication } from './core/replication.ts';
import { addVirtualMachines } from './core/vms.ts';
import { addVirtualVolumes } from './core/vvols.ts';
import { createRefs } from './refs.ts';
import { addScalars } from './scalars.ts';

/**
 * The core's types, then each plugin's contributions in load order. A plugin whose contributions do not
 * fit (a field or type name the core or an earlier plugin has, or its own `schema` throwing) stops the
 * start-up with its name: Pothos reports a clash only when the whole schema is built, naming neither side.
 */
export function buildSchema(plugins: readonly Plugin[]): GraphQLSchema {
  try {
    return assemble(plugins);
  } catch (error) {
    const misfit = plugins.find((_, i) => !fits(plugins.slice(0, i + 1)));
    if (!misfit) throw error;
    throw new Error(`Plugin ${misfit.name}: its schema does not fit the core's and the plugins' before it: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

function fits(plugins: readonly Plugin[]): boolean {
  try {
    assemble(plugins);
    return true;
  } catch {
    return false;
  }
}

function assemble(plugins: readonly Plugin[]): GraphQLSchema {
  const builder = createBuilder();
  builder.queryType({ authScopes: { viewer: true } });
  builder.mutationType({ authScopes: { viewer: true } });
  builder.subscriptionType({ authScopes: { viewer: true } });
  addScalars(builder);
  const { RuleCheck } = addErrorTypes(builder);
  addConnectionFields(builder);
  const enums = addEnums(builder);
  const refs = createRefs(builder, enums);
  addInventory(builder, refs, enums);
  addPolicies(builder, refs, enums, RuleCheck);
  const vmTypes = addVirtualMachines(builder, refs, enums);
  addVirtualVolumes(builder, refs, enums, vmTypes);
  addOperations(builder, refs, enums);
  addIo(builder, refs);
  addReplication(builder, refs);
  for (const plugin of plugins) plugin.schema?.(builder, refs);
  return builder.toSchema({ sortSchema: true });
}
