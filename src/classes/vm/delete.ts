import { defineAction } from '../context.js';

export default defineAction('sysadm/vm/delete', {
  permission: 'vm.delete',
  scope: 'vmid',
  write: true,
  async handler({ vmid, force = false }, ctx) {
    await ctx.services.vms.delete(vmid, force);
    return { vmid, deleted: true as const };
  },
});
