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

/** The core's types, then each plugin's contributions in load order. Every root type needs a role. */
export function buildSchema(plugins: readonly Plugin[]): GraphQLSchema {
  const builder = createBuilder();
  builder.queryType({ authScopes: { viewer: true } });
  builder.mutationType({ authScopes: { viewer: true } });
  builder.subscriptionType({ authScopes: { viewer: true } });
  addScalars(builder);
  const { RuleCheck } = addErrorTypes(builder);
  addConnectionFields(builder);
  const refs = createRefs(builder);
  const enums = addEnums(builder);
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
