import { MEDIA_MODES } from '../../core/api.gen.js';
import { RpcError, notAcceptable } from '../../core/errors.js';
import type { VmDefinition } from '../../hypervisor/types.js';
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
    ...(d.num !== undefined ? { num: d.num } : {}),
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
    ...(d.ips ? { ips: d.ips } : {}),
    ...(d.kernel ? { kernel: d.kernel } : {}),
    ...(d.initrd ? { initrd: d.initrd } : {}),
    ...(d.cmdline ? { cmdline: d.cmdline } : {}),
    ...(d.distribution ? { distribution: d.distribution } : {}),
    ...(d.ssh_key_fingerprints ? { ssh_key_fingerprints: d.ssh_key_fingerprints } : {}),
    actions: engine.actions(rt),
    launch_time: rt.launchTime,
    hardware_profile: profile?.name ?? 'custom',
    created: d.created,
  };
}

/** Velocity answers an invalid type or mode with 406, not 400: checked here rather than by the schema. */
/**
 * Media as a definition keeps them. They come from the ISO store, which every group shares: a
 * guest that could write one would change what other groups' VMs boot, so they are read-only,
 * and asking for `readonly:false` is refused rather than stored and not honoured.
 */
export function mediaOf(media: { mid: string; mode: string; readonly?: boolean }[]): VmDefinition['media'] {
  return media.map((m, i) => {
    if (m.readonly === false) {
      const message = 'media come from the shared ISO store and are read-only to guests; send true or leave it out';
      throw new RpcError(406, `media/${i}/readonly: ${message}`, [{ path: `/args/media/${i}/readonly`, message }], 'not_acceptable');
    }
    return { mid: m.mid, mode: oneOf(m.mode, MEDIA_MODES, `media/${i}/mode`), readonly: true };
  });
}

export function oneOf<T extends string>(value: string, allowed: readonly T[], field: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw notAcceptable(`${field}: '${value}' is not one of ${allowed.join(', ')}`);
  return value as T;
}
