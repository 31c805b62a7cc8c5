import { defineAction } from '../context.js';
import { page } from '../paging.js';

export default defineAction('sysadm/vm/list', {
  permission: 'vm.view',
  scope: 'gid',
  handler({ gid, offset, limit }, ctx) {
    const { vms } = ctx.services;
    const { items, extra } = page(vms.list(gid), { offset, limit });
    return {
      vms: items.map((rt) => ({
        vmid: rt.def.vmid,
        name: rt.def.name,
        cpus: rt.def.cpus,
        memory_mib: rt.def.memory_mib,
        state: rt.state,
        actions: vms.actions(rt),
      })),
      ...extra,
    };
  },
});
