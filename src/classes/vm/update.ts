import { defineAction } from '../context.js';
import { MEDIA_MODES } from '../../core/api.gen.js';
import type { VmDefinition } from '../../hypervisor/types.js';
import { describeVm, oneOf } from './describe.js';

export default defineAction('sysadm/vm/update', {
  permission: 'vm.create',
  scope: 'vmid',
  write: true,
  async handler({ vmid, media, ...rest }, ctx) {
    const patch: Partial<VmDefinition> = { ...rest };
    if (media) {
      patch.media = media.map((m, i) => ({ mid: m.mid, mode: oneOf(m.mode, MEDIA_MODES, `media/${i}/mode`), readonly: m.readonly ?? false }));
    }
    await ctx.services.vms.update(vmid, patch);
    return describeVm(ctx.services.vms, ctx.services.vms.get(vmid));
  },
});
