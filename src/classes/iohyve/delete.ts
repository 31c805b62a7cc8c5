import { defineAction } from '../context.js';
import { conflict } from '../../core/errors.js';
import { IOHYVE_GROUP, guest } from './guest.js';

export default defineAction('sysadm/iohyve/delete', {
  permission: 'vm.delete',
  scope: { group: IOHYVE_GROUP },
  write: true,
  async handler({ name }, ctx) {
    const rt = guest(ctx, name);
    if (rt.state !== 'STOPPED') throw conflict('Please stop the guest first');
    await ctx.services.vms.delete(rt.def.vmid, false);
    return { delete: { name } };
  },
});
