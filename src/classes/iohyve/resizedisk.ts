import { defineAction } from '../context.js';
import { IOHYVE_GROUP, formatSize, guest, parseSize } from './guest.js';

export default defineAction('sysadm/iohyve/resizedisk', {
  permission: 'vm.create',
  scope: { group: IOHYVE_GROUP },
  write: true,
  async handler({ name, disk, size }, ctx) {
    const rt = guest(ctx, name);
    const sizeMib = parseSize(size);
    await ctx.services.vms.resizeDisc(rt.def.vmid, disk, sizeMib);
    return { resizedisk: { name, disk, size: formatSize(sizeMib) } };
  },
});
