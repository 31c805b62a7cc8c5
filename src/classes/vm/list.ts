import { defineAction } from '../context.js';

export default defineAction('sysadm/vm/list', {
  permission: 'vm.view',
  scope: 'gid',
  handler({ gid }, ctx) {
    const { vms } = ctx.services;
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
