import { defineAction } from '../../core/action.js';
import { notAcceptable } from '../../core/errors.js';
import type { VmDefinition } from '../../hypervisor/types.js';
import { describeVm, vmFor } from './describe.js';

interface Args {
  vmid: string;
  cpus?: number;
  memory_mib?: number;
  media?: { mid: string; mode: string; readonly?: boolean }[];
  autostart?: boolean;
  description?: string;
}

export default defineAction<Args>({
  namespace: 'sysadm',
  name: 'vm',
  action: 'update',
  permission: 'vm.create',
  write: true,
  async handler({ vmid, media, ...rest }, ctx) {
    vmFor(ctx, vmid, 'vm.create');
    const patch: Partial<VmDefinition> = { ...rest };
    if (media) {
      patch.media = media.map((m, i) => {
        if (!['USB', 'BLOCK', 'VIRTIO'].includes(m.mode)) throw notAcceptable(`media/${i}/mode: '${m.mode}' is not one of USB, BLOCK, VIRTIO`);
        return { mid: m.mid, mode: m.mode as 'USB' | 'BLOCK' | 'VIRTIO', readonly: m.readonly ?? false };
      });
    }
    await ctx.services.vms.update(vmid, patch);
    return describeVm(ctx.services.vms, ctx.services.vms.get(vmid));
  },
});
