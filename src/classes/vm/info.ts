import { defineAction } from '../context.js';
import { describeVm } from './describe.js';

export default defineAction('sysadm/vm/info', {
  permission: 'vm.view',
  scope: 'vmid',
  async handler({ vmid }, ctx) {
    const { vms } = ctx.services;
    await vms.refresh(vmid);
    const [blocks, agent] = await Promise.all([vms.liveBlocks(vmid), vms.agentInfo(vmid)]);
    return { ...describeVm(vms, vms.get(vmid)), block_devices: blocks, ...agent };
  },
});
