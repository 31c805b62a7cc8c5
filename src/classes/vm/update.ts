import { defineAction } from '../context.js';
import type { VmDefinition } from '../../hypervisor/types.js';
import { describeVm, mediaOf } from './describe.js';

export default defineAction('sysadm/vm/update', {
  permission: 'vm.create',
  scope: 'vmid',
  write: true,
  async handler({ vmid, media, ...rest }, ctx) {
    const patch: Partial<VmDefinition> = { ...rest };
    if (media) patch.media = mediaOf(media);
    await ctx.services.vms.update(vmid, patch);
    return describeVm(ctx.services.vms, ctx.services.vms.get(vmid));
  },
});
