import { defineAction } from '../../core/action.js';
import { vmFor } from './describe.js';

export default defineAction<{ vmid: string; state?: 'RUNNING' | 'PAUSED' | 'STOPPED'; force?: boolean }>({
  namespace: 'sysadm',
  name: 'vm',
  action: 'state',
  permission: 'vm.view',
  write: true,
  async handler({ vmid, state, force = false }, ctx) {
    const { vms } = ctx.services;
    if (state === undefined) {
      vmFor(ctx, vmid, 'vm.view');
      return { vmid, state: await vms.refresh(vmid) };
    }
    vmFor(ctx, vmid, 'vm.state');
    return { vmid, state: await vms.setState(vmid, state, force) };
  },
});
