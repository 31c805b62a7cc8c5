import { defineAction } from '../../core/action.js';
import { formatSize, gradeFor, guest, nextDiskLabel, parseSize } from './guest.js';

export default defineAction<{ name: string; size: string; pool?: string }>({
  namespace: 'sysadm',
  name: 'iohyve',
  action: 'adddisk',
  permission: 'vm.create',
  write: true,
  async handler({ name, size, pool }, ctx) {
    const rt = guest(ctx, name, 'vm.create');
    const sizeMib = parseSize(size);
    const disk = nextDiskLabel(rt.def.discs.map((d) => d.label));
    await ctx.services.vms.addDisc(rt.def.vmid, { label: disk, size_mib: sizeMib, storage_grade: await gradeFor(ctx.services, pool) });
    return { adddisk: { name, disk, size: formatSize(sizeMib) } };
  },
});
