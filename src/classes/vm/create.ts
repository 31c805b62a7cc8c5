import { defineAction } from '../context.js';
import { NIC_TYPES, VM_TYPES } from '../../core/api.gen.js';
import { notAcceptable, notFound } from '../../core/errors.js';
import { HARDWARE_PROFILES, mediaOf, oneOf } from './describe.js';

export default defineAction('sysadm/vm/create', {
  permission: 'vm.create',
  scope: 'gid',
  write: true,
  async handler(a, ctx) {
    const { vms, config } = ctx.services;
    const profile = a.hardware_profile === undefined ? undefined : HARDWARE_PROFILES.find((p) => p.name === a.hardware_profile);
    if (a.hardware_profile !== undefined && !profile) throw notFound(`no hardware profile '${a.hardware_profile}'`);
    const cpus = a.cpus ?? profile?.cpus;
    const memory = a.memory_mib ?? profile?.memory_mib;
    if (cpus === undefined || memory === undefined) throw notAcceptable('give cpus and memory_mib, or a hardware_profile');
    // Velocity's rosetta runs x86 Linux binaries on Apple silicon; taking it and storing false would hide that it is not there.
    if (a.rosetta) throw notAcceptable('rosetta: Rosetta is only available on macOS hosts with Apple silicon; send false or leave it out');
    const grades = Object.keys(config.storage_grades);
    const def = await vms.create({
      name: a.name,
      gid: a.gid,
      type: oneOf(a.type ?? 'EFI', VM_TYPES, 'type'),
      cpus,
      memory_mib: memory,
      displays: a.displays ?? [],
      media: mediaOf(a.media ?? []),
      nics: (a.nics ?? []).map((n, i) => {
        const type = oneOf(n.type, NIC_TYPES, `nics/${i}/type`);
        // Stored explicitly on NAT nics, so a definition shows which network its guest gets.
        const loopback = type === 'NAT' || n.host_loopback !== undefined ? { host_loopback: n.host_loopback ?? false } : {};
        return { type, ...(n.host !== undefined ? { host: n.host } : {}), ...loopback };
      }),
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
