import { defineAction } from '../../core/action.js';
import { IOHYVE_GROUP } from './guest.js';

const IN_VMM = new Set(['STARTING', 'RUNNING', 'PAUSING', 'PAUSED', 'RESUMING', 'STOPPING', 'UNKNOWN']);

export default defineAction({
  namespace: 'sysadm',
  name: 'iohyve',
  action: 'listvms',
  permission: 'vm.view',
  handler(_args, ctx) {
    ctx.require('vm.view', IOHYVE_GROUP);
    const listvms: Record<string, { description: string; rcboot: 'YES' | 'NO'; running: 'YES' | 'NO'; vmm: 'YES' | 'NO' }> = {};
    for (const rt of ctx.services.vms.list(IOHYVE_GROUP)) {
      listvms[rt.def.name] = {
        description: rt.def.description,
        rcboot: rt.def.autostart ? 'YES' : 'NO',
        running: rt.state === 'RUNNING' ? 'YES' : 'NO',
        // A hypervisor process exists: also while paused or on its way up or down.
        vmm: IN_VMM.has(rt.state) ? 'YES' : 'NO',
      };
    }
    return { listvms };
  },
});
