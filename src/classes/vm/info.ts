import { defineAction } from '../../core/action.js';
import { describeVm, vmFor } from './describe.js';

export default defineAction<{ vmid: string }>({
  namespace: 'sysadm',
  name: 'vm',
  action: 'info',
  permission: 'vm.view',
  async handler({ vmid }, ctx) {
    vmFor(ctx, vmid, 'vm.view');
    await ctx.services.vms.refresh(vmid);
    return { ...describeVm(ctx.services.vms, ctx.services.vms.get(vmid)), block_devices: await ctx.services.vms.liveBlocks(vmid) };
  },
});
