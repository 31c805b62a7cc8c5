import { defineAction } from '../context.js';
import { IOHYVE_GROUP, flag, guest } from './guest.js';

// sysadm passed `force` on but never honoured it; here "true" powers off at once.
export default defineAction('sysadm/iohyve/stop', {
  permission: 'vm.state',
  scope: { group: IOHYVE_GROUP },
  write: true,
  async handler({ name, force }, ctx) {
    const rt = guest(ctx, name);
    const state = await ctx.services.vms.setState(rt.def.vmid, 'STOPPED', flag(force));
    return { stop: { name, state } };
  },
});
