import { defineAction } from '../../core/action.js';
import { guest } from './guest.js';

export default defineAction<{ name: string }>({
  namespace: 'sysadm',
  name: 'iohyve',
  action: 'start',
  permission: 'vm.state',
  write: true,
  async handler({ name }, ctx) {
    const rt = guest(ctx, name, 'vm.state');
    const state = await ctx.services.vms.setState(rt.def.vmid, 'RUNNING', false);
    return { start: { name, state } };
  },
});
