import type { VmEngine } from '../../hypervisor/engine.js';
import type { CallContext } from '../../core/action.js';
import { notFound } from '../../core/errors.js';
import type { Permission } from '../../core/permissions.js';

/** Named sizes (Deltacloud's hardware profiles, Bytemark's definitions). */
export const HARDWARE_PROFILES = [
  { name: 'small', cpus: 1, memory_mib: 512 },
  { name: 'medium', cpus: 2, memory_mib: 2048 },
  { name: 'large', cpus: 4, memory_mib: 8192 },
  { name: 'xlarge', cpus: 8, memory_mib: 16384 },
];

type Runtime = ReturnType<VmEngine['get']>;

/**
 * The VM a caller may act on. Without vm.view on its group the VM does not exist for them
 * (Velocity: 404, so ids cannot be probed); with view but not `perm`, 403.
 */
export function vmFor(ctx: CallContext, vmid: string, perm: Permission): Runtime {
  const rt = ctx.services.vms.get(vmid);
  if (!ctx.can('vm.view', rt.def.gid)) throw notFound(`no VM with vmid '${vmid}'`);
  ctx.require(perm, rt.def.gid);
  return rt;
}

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
