import { defineAction } from '../../core/action.js';
import { vmFor } from './describe.js';

export default defineAction<{ vmid: string; force?: boolean }>({
  namespace: 'sysadm',
  name: 'vm',
  action: 'delete',
  permission: 'vm.delete',
  write: true,
  async handler({ vmid, force = false }, ctx) {
    vmFor(ctx, vmid, 'vm.delete');
    await ctx.services.vms.delete(vmid, force);
    return { vmid, deleted: true as const };
  },
});
