import { defineAction } from '../context.js';
import { describeVm } from './describe.js';

export default defineAction('sysadm/vm/info', {
  permission: 'vm.view',
  scope: 'vmid',
  async handler({ vmid }, ctx) {
    await ctx.services.vms.refresh(vmid);
    return { ...describeVm(ctx.services.vms, ctx.services.vms.get(vmid)), block_devices: await ctx.services.vms.liveBlocks(vmid) };
  },
});
