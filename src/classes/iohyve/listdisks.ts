import { defineAction } from '../context.js';
import { IOHYVE_GROUP, formatSize, guest } from './guest.js';

export default defineAction('sysadm/iohyve/listdisks', {
  permission: 'vm.view',
  scope: { group: IOHYVE_GROUP },
  handler({ name }, ctx) {
    const rt = guest(ctx, name);
    return { listdisks: Object.fromEntries(rt.def.discs.map((d) => [d.label, formatSize(d.size_mib)])) };
  },
});
