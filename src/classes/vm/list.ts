import { defineAction } from '../../core/action.js';
import { notFound } from '../../core/errors.js';

export default defineAction<{ gid: string }>({
  namespace: 'sysadm',
  name: 'vm',
  action: 'list',
  permission: 'vm.view',
  handler({ gid }, ctx) {
    const { vms } = ctx.services;
    if (!vms.groupExists(gid)) throw notFound(`no group '${gid}'`);
    ctx.require('vm.view', gid);
    return {
      vms: vms.list(gid).map((rt) => ({
        vmid: rt.def.vmid,
        name: rt.def.name,
        cpus: rt.def.cpus,
        memory_mib: rt.def.memory_mib,
        state: rt.state,
        actions: vms.actions(rt),
      })),
    };
  },
});
