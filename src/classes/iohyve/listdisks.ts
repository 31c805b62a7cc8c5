import { defineAction } from '../../core/action.js';
import { formatSize, guest } from './guest.js';

export default defineAction<{ name: string }>({
  namespace: 'sysadm',
  name: 'iohyve',
  action: 'listdisks',
  permission: 'vm.view',
  handler({ name }, ctx) {
    const rt = guest(ctx, name, 'vm.view');
    return { listdisks: Object.fromEntries(rt.def.discs.map((d) => [d.label, formatSize(d.size_mib)])) };
  },
});
