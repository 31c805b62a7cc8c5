import { defineAction } from '../context.js';

export default defineAction('sysadm/vm/reboot', {
  permission: 'vm.state',
  scope: 'vmid',
  write: true,
  async handler({ vmid }, ctx) {
    return { vmid, state: await ctx.services.vms.reboot(vmid) };
  },
});
