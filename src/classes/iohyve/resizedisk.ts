import { defineAction } from '../../core/action.js';
import { formatSize, guest, parseSize } from './guest.js';

export default defineAction<{ name: string; disk: string; size: string }>({
  namespace: 'sysadm',
  name: 'iohyve',
  action: 'resizedisk',
  permission: 'vm.create',
  write: true,
  async handler({ name, disk, size }, ctx) {
    const rt = guest(ctx, name, 'vm.create');
    const sizeMib = parseSize(size);
    await ctx.services.vms.resizeDisc(rt.def.vmid, disk, sizeMib);
    return { resizedisk: { name, disk, size: formatSize(sizeMib) } };
  },
});
