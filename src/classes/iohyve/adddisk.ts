import { defineAction } from '../context.js';
import { IOHYVE_GROUP, formatSize, gradeFor, guest, nextDiskLabel, parseSize } from './guest.js';

export default defineAction('sysadm/iohyve/adddisk', {
  permission: 'vm.create',
  scope: { group: IOHYVE_GROUP },
  write: true,
  async handler({ name, size, pool }, ctx) {
    const rt = guest(ctx, name);
    const sizeMib = parseSize(size);
    const disk = nextDiskLabel(rt.def.discs.map((d) => d.label));
    await ctx.services.vms.addDisc(rt.def.vmid, { label: disk, size_mib: sizeMib, storage_grade: await gradeFor(ctx.services, pool) });
    return { adddisk: { name, disk, size: formatSize(sizeMib) } };
  },
});
