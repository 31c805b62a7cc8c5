import { defineAction } from '../../core/action.js';
import { notAcceptable, notFound } from '../../core/errors.js';
import type { VmDefinition } from '../../hypervisor/types.js';
import { HARDWARE_PROFILES } from './describe.js';

interface Args {
  name: string;
  gid: string;
  type?: string;
  hardware_profile?: string;
  cpus?: number;
  memory_mib?: number;
  displays?: VmDefinition['displays'];
  media?: { mid: string; mode: string; readonly?: boolean }[];
  nics?: { type: string; host?: string }[];
  discs?: { label: string; size_mib: number; storage_grade?: string }[];
  rosetta?: boolean;
  autostart?: boolean;
  description?: string;
  kernel?: string;
  initrd?: string;
  cmdline?: string;
}

const MODES = ['USB', 'BLOCK', 'VIRTIO'] as const;
const NIC_TYPES = ['NAT', 'BRIDGE'] as const;

/** Velocity answers an invalid type or mode with 406, not 400: checked here rather than by the schema. */
function oneOf<T extends string>(value: string, allowed: readonly T[], field: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw notAcceptable(`${field}: '${value}' is not one of ${allowed.join(', ')}`);
  return value as T;
}

export default defineAction<Args>({
  namespace: 'sysadm',
  name: 'vm',
  action: 'create',
  permission: 'vm.create',
  write: true,
  async handler(a, ctx) {
    const { vms, config } = ctx.services;
    if (!vms.groupExists(a.gid)) throw notFound(`no group '${a.gid}'`);
    ctx.require('vm.create', a.gid);
    const profile = a.hardware_profile === undefined ? undefined : HARDWARE_PROFILES.find((p) => p.name === a.hardware_profile);
    if (a.hardware_profile !== undefined && !profile) throw notFound(`no hardware profile '${a.hardware_profile}'`);
    const cpus = a.cpus ?? profile?.cpus;
    const memory = a.memory_mib ?? profile?.memory_mib;
    if (cpus === undefined || memory === undefined) throw notAcceptable('give cpus and memory_mib, or a hardware_profile');
    const grades = Object.keys(config.storage_grades);
    const def = await vms.create({
      name: a.name,
      gid: a.gid,
      type: oneOf(a.type ?? 'EFI', ['EFI', 'BIOS'] as const, 'type'),
      cpus,
      memory_mib: memory,
      displays: a.displays ?? [],
      media: (a.media ?? []).map((m, i) => ({ mid: m.mid, mode: oneOf(m.mode, MODES, `media/${i}/mode`), readonly: m.readonly ?? false })),
      nics: (a.nics ?? []).map((n, i) => ({ type: oneOf(n.type, NIC_TYPES, `nics/${i}/type`), ...(n.host !== undefined ? { host: n.host } : {}) })),
      discs: (a.discs ?? []).map((d) => ({ label: d.label, size_mib: d.size_mib, storage_grade: d.storage_grade ?? grades[0] })),
      autostart: a.autostart ?? false,
      description: a.description ?? '',
      rosetta: false,
      ...(a.kernel !== undefined ? { kernel: a.kernel } : {}),
      ...(a.initrd !== undefined ? { initrd: a.initrd } : {}),
      ...(a.cmdline !== undefined ? { cmdline: a.cmdline } : {}),
    });
    return { vmid: def.vmid };
  },
});
