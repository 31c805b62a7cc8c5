import { defineAction } from '../context.js';
import { IOHYVE_GROUP, guest } from './guest.js';

export default defineAction('sysadm/iohyve/start', {
  permission: 'vm.state',
  scope: { group: IOHYVE_GROUP },
  write: true,
  async handler({ name }, ctx) {
    const rt = guest(ctx, name);
    const state = await ctx.services.vms.setState(rt.def.vmid, 'RUNNING', false);
    return { start: { name, state } };
  },
});
