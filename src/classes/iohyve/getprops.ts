import path from 'node:path';
import { defineAction } from '../context.js';
import { IOHYVE_GROUP, formatSize, guest } from './guest.js';

/** iohyve's guest properties, read from the VM definition. */
export default defineAction('sysadm/iohyve/getprops', {
  permission: 'vm.view',
  scope: { group: IOHYVE_GROUP },
  handler({ name }, ctx) {
    const rt = guest(ctx, name);
    const d = rt.def;
    const disk0 = d.discs.find((x) => x.label === 'disk0');
    return {
      getprops: {
        name: d.name,
        ram: formatSize(d.memory_mib),
        cpu: String(d.cpus),
        size: disk0 ? formatSize(disk0.size_mib) : '0',
        description: d.description,
        boot: d.autostart ? '1' : '0',
        os: d.kernel ? 'custom' : 'default',
        loader: d.type === 'EFI' ? 'uefi' : d.kernel ? 'direct' : 'bios',
        con: path.join(ctx.services.config.state_dir, 'vms', d.vmid, 'console.sock'),
        persist: '1',
        install: d.boot === 'cd' ? 'yes' : 'no',
        tap: d.nics.map((n) => (n.type === 'BRIDGE' ? n.host ?? '' : 'nat')).join(','),
        vmid: d.vmid,
      },
    };
  },
});
