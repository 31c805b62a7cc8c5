import { defineAction } from '../../core/action.js';
import { notAcceptable } from '../../core/errors.js';
import { guest } from './guest.js';

export default defineAction<{ name: string; disk: string }>({
  namespace: 'sysadm',
  name: 'iohyve',
  action: 'deletedisk',
  permission: 'vm.create',
  write: true,
  async handler({ name, disk }, ctx) {
    const rt = guest(ctx, name, 'vm.create');
    // As in sysadm: the boot disc stays; delete the guest to remove it.
    if (disk === 'disk0') throw notAcceptable('disk0 cannot be removed');
    await ctx.services.vms.removeDisc(rt.def.vmid, disk);
    return { deletedisk: { name, disk } };
  },
});
