import { defineAction } from '../../core/action.js';
import { flag, guest } from './guest.js';

// sysadm passed `force` on but never honoured it; here "true" powers off at once.
export default defineAction<{ name: string; force?: boolean | string }>({
  namespace: 'sysadm',
  name: 'iohyve',
  action: 'stop',
  permission: 'vm.state',
  write: true,
  async handler({ name, force }, ctx) {
    const rt = guest(ctx, name, 'vm.state');
    const state = await ctx.services.vms.setState(rt.def.vmid, 'STOPPED', flag(force));
    return { stop: { name, state } };
  },
});
