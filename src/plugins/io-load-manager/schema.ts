import type { SchemaBuilder, SchemaRefs } from '../../core/plugin.ts';
import { priorities, type Priority } from './allocate.ts';
import { limitsOf } from './engine.ts';

interface IoControl {
  upperLimit: number | null;
  lowerLimit: number | null;
  priority: Priority;
  upperReport: boolean;
  demandIops: number;
  servedIops: number;
  throttledIops: number;
  guaranteeMet: boolean;
}

/** VirtualVolume.ioControl and VirtualMachine.ioControl: limits from the policy, figures from the last tick. */
export function schema(builder: SchemaBuilder, refs: SchemaRefs): void {
  const Priority = builder.enumType('IoPriority', { values: priorities, description: 'nec.iolm.priority: HIGH, MEDIUM and LOW shares weigh 4:2:1.' });
  const IoControlRef = builder.objectRef<IoControl>('IoControl').implement({
    description: 'IO Load Manager: the limits in force and how the last tick went.',
    fields: (t) => ({
      upperLimit: t.exposeInt('upperLimit', { nullable: true, description: 'IOPS; null when there is none.' }),
      lowerLimit: t.exposeInt('lowerLimit', { nullable: true, description: 'Guaranteed IOPS; null when there is none.' }),
      priority: t.expose('priority', { type: Priority, description: 'The share of what is left after lower limits.' }),
      upperReport: t.exposeBoolean('upperReport', { description: 'Events iolm.upperLimitReached and iolm.upperLimitReleased report when the volume starts and stops being held at its upper limit.' }),
      demandIops: t.exposeFloat('demandIops'),
      servedIops: t.exposeFloat('servedIops'),
      throttledIops: t.exposeFloat('throttledIops'),
      guaranteeMet: t.exposeBoolean('guaranteeMet', { description: 'False when demand reached the lower limit and less than it was served.' }),
    }),
  });
  const control = (limits: ReturnType<typeof limitsOf>, sample: { servedIops: number; throttledIops: number } | undefined): IoControl => {
    const served = sample?.servedIops ?? 0;
    const demand = served + (sample?.throttledIops ?? 0);
    return {
      upperLimit: limits.upperLimit || null,
      lowerLimit: limits.lowerLimit || null,
      priority: limits.priority,
      upperReport: limits.upperReport,
      demandIops: demand,
      servedIops: served,
      throttledIops: sample?.throttledIops ?? 0,
      guaranteeMet: !(limits.lowerLimit > 0 && demand >= limits.lowerLimit && served < limits.lowerLimit - 1e-6),
    };
  };
  builder.objectField(refs.VirtualVolume, 'ioControl', (t) =>
    t.field({
      type: IoControlRef,
      resolve: async (vvol, _args, ctx) => control(limitsOf(await ctx.loaders.rulesByPolicy.load(vvol.policyId)), ctx.services.engine.lastTickIo(vvol.id)),
    }),
  );
  builder.objectField(refs.VirtualMachine, 'ioControl', (t) =>
    t.field({
      type: IoControlRef,
      description: 'The VM policy\'s limits (each applies per VVOL); figures summed over its DATA VVOLs; guaranteeMet when every one\'s was.',
      resolve: async (vm, _args, ctx) => {
        const disks = (await ctx.loaders.vvolsByVm.load(vm.id)).filter((v) => v.type === 'DATA');
        const parts = await Promise.all(disks.map(async (v) => control(limitsOf(await ctx.loaders.rulesByPolicy.load(v.policyId)), ctx.services.engine.lastTickIo(v.id))));
        return {
          ...control(limitsOf(await ctx.loaders.rulesByPolicy.load(vm.policyId)), undefined),
          demandIops: parts.reduce((s, p) => s + p.demandIops, 0),
          servedIops: parts.reduce((s, p) => s + p.servedIops, 0),
          throttledIops: parts.reduce((s, p) => s + p.throttledIops, 0),
          guaranteeMet: parts.every((p) => p.guaranteeMet),
        };
      },
    }),
  );
}
