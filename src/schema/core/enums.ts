import {
  alarmKind, alarmStatus, arrayRole, bindState, copyControls, peProtocol, policyState, powerState, taskState, tierKind, vvolOrigin, vvolType, workloadPreset,
} from '../../core/db/tables.ts';
import { linesOfService, valueTypes } from '../../core/plugin.ts';
import type { Builder } from '../builder.ts';

/** GraphQL enums, one per database enum (same values), plus the registry's. */
export function addEnums(builder: Builder) {
  const e = <const T extends readonly [string, ...string[]]>(name: string, values: T, description?: string) =>
    builder.enumType(name, { values, description });
  return {
    ArrayRole: e('ArrayRole', arrayRole.enumValues, 'PRIMARY arrays (M-series) hold VVOLs; the BACKUP array (HS-series) holds DirectDataShadow backups.'),
    TierKind: e('TierKind', tierKind.enumValues),
    Protocol: e('Protocol', peProtocol.enumValues),
    PowerState: e('PowerState', powerState.enumValues),
    VirtualVolumeType: e('VirtualVolumeType', vvolType.enumValues),
    BindState: e('BindState', bindState.enumValues),
    VolumeOrigin: e('VolumeOrigin', vvolOrigin.enumValues),
    PolicyState: e('PolicyState', policyState.enumValues, 'Where a VVOL is in reconciling its policy.'),
    TaskState: e('TaskState', taskState.enumValues),
    AlarmKind: e('AlarmKind', alarmKind.enumValues),
    AlarmStatus: e('AlarmStatus', alarmStatus.enumValues),
    ValueType: e('ValueType', valueTypes as unknown as readonly [string, ...string[]]),
    LineOfService: e('LineOfService', linesOfService as unknown as readonly [string, ...string[]]),
    ComplianceStatus: e('ComplianceStatus', ['COMPLIANT', 'NON_COMPLIANT', 'UNKNOWN', 'NOT_APPLICABLE', 'OUT_OF_DATE'] as const),
    WorkloadPreset: e('WorkloadPreset', workloadPreset.enumValues, 'OLTP, VDI_BOOT_STORM, BACKUP_SCAN and IDLE are presets; CUSTOM is a profile given in full.'),
    CopyControl: e('CopyControl', copyControls, 'SYNC: a write waits for the RV (the link\'s latency is paid); SEMI_SYNC (rdr only): copies behind while the unsent bytes are within the link\'s threshold, then new writes wait; BACKGROUND: copies behind at the link\'s bandwidth, never waits.'),
    CloneMode: e('CloneMode', ['FULL', 'FAST'] as const, 'FULL copies every extent; FAST (VASA fastClone) shares them and stores only differences.'),
  };
}

export type Enums = ReturnType<typeof addEnums>;
