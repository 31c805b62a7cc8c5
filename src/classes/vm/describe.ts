import { notAcceptable } from '../../core/errors.js';
import type { VmEngine } from '../../hypervisor/engine.js';

/** Named sizes (Deltacloud's hardware profiles, Bytemark's definitions). */
export const HARDWARE_PROFILES = [
  { name: 'small', cpus: 1, memory_mib: 512 },
  { name: 'medium', cpus: 2, memory_mib: 2048 },
  { name: 'large', cpus: 4, memory_mib: 8192 },
  { name: 'xlarge', cpus: 8, memory_mib: 16384 },
];

type Runtime = ReturnType<VmEngine['get']>;

export function describeVm(engine: VmEngine, rt: Runtime) {
  const d = rt.def;
  const profile = HARDWARE_PROFILES.find((p) => p.cpus === d.cpus && p.memory_mib === d.memory_mib);
  return {
    vmid: d.vmid,
    name: d.name,
    gid: d.gid,
    type: d.type,
    state: rt.state,
    cpus: d.cpus,
    memory_mib: d.memory_mib,
    displays: d.displays,
    media: d.media,
    nics: d.nics,
    rosetta: false,
    autostart: d.autostart,
    description: d.description,
    discs: d.discs,
    ...(d.kernel ? { kernel: d.kernel } : {}),
    ...(d.initrd ? { initrd: d.initrd } : {}),
    ...(d.cmdline ? { cmdline: d.cmdline } : {}),
    actions: engine.actions(rt),
    launch_time: rt.launchTime,
    hardware_profile: profile?.name ?? 'custom',
    created: d.created,
  };
}

/** Velocity answers an invalid type or mode with 406, not 400: checked here rather than by the schema. */
export function oneOf<T extends string>(value: string, allowed: readonly T[], field: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw notAcceptable(`${field}: '${value}' is not one of ${allowed.join(', ')}`);
  return value as T;
}
