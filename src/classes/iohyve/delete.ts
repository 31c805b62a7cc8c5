import { defineAction } from '../../core/action.js';
import { conflict } from '../../core/errors.js';
import { guest } from './guest.js';

export default defineAction<{ name: string }>({
  namespace: 'sysadm',
  name: 'iohyve',
  action: 'delete',
  permission: 'vm.delete',
  write: true,
  async handler({ name }, ctx) {
    const rt = guest(ctx, name, 'vm.delete');
    if (rt.state !== 'STOPPED') throw conflict('Please stop the guest first');
    await ctx.services.vms.delete(rt.def.vmid, false);
    return { delete: { name } };
  },
});
