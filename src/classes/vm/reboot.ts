import { defineAction } from '../../core/action.js';
import { vmFor } from './describe.js';

export default defineAction<{ vmid: string }>({
  namespace: 'sysadm',
  name: 'vm',
  action: 'reboot',
  permission: 'vm.state',
  write: true,
  async handler({ vmid }, ctx) {
    vmFor(ctx, vmid, 'vm.state');
    return { vmid, state: await ctx.services.vms.reboot(vmid) };
  },
});
