import { defineAction } from '../context.js';
import { notAcceptable } from '../../core/errors.js';
import { IOHYVE_GROUP, guest } from './guest.js';

export default defineAction('sysadm/iohyve/deletedisk', {
  permission: 'vm.create',
  scope: { group: IOHYVE_GROUP },
  write: true,
  async handler({ name, disk }, ctx) {
    const rt = guest(ctx, name);
    // As in sysadm: the boot disc stays; delete the guest to remove it.
    if (disk === 'disk0') throw notAcceptable('disk0 cannot be removed');
    await ctx.services.vms.removeDisc(rt.def.vmid, disk);
    return { deletedisk: { name, disk } };
  },
});
