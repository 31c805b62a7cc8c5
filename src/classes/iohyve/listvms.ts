import { defineAction } from '../context.js';
import { page } from '../paging.js';
import { IOHYVE_GROUP } from './guest.js';

const IN_VMM = new Set(['STARTING', 'RUNNING', 'PAUSING', 'PAUSED', 'RESUMING', 'STOPPING', 'UNKNOWN']);

export default defineAction('sysadm/iohyve/listvms', {
  permission: 'vm.view',
  scope: { group: IOHYVE_GROUP },
  handler({ offset, limit }, ctx) {
    const listvms: Record<string, { description: string; rcboot: 'YES' | 'NO'; running: 'YES' | 'NO'; vmm: 'YES' | 'NO' }> = {};
    const { items, extra } = page(ctx.services.vms.list(IOHYVE_GROUP), { offset, limit });
    for (const rt of items) {
      listvms[rt.def.name] = {
        description: rt.def.description,
        rcboot: rt.def.autostart ? 'YES' : 'NO',
        running: rt.state === 'RUNNING' ? 'YES' : 'NO',
        // A hypervisor process exists: also while paused or on its way up or down.
        vmm: IN_VMM.has(rt.state) ? 'YES' : 'NO',
      };
    }
    return { listvms, ...extra };
  },
});
