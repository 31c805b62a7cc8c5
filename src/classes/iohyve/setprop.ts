import { defineAction } from '../../core/action.js';
import { badRequest } from '../../core/errors.js';
import { formatSize, guest, parseSize } from './guest.js';

interface Args { name: string; ram?: string; cpu?: string; description?: string; boot?: string }

/** The writable iohyve properties; the schema refuses any other with 400. */
export default defineAction<Args>({
  namespace: 'sysadm',
  name: 'iohyve',
  action: 'setprop',
  permission: 'vm.create',
  write: true,
  async handler({ name, ram, cpu, description, boot }, ctx) {
    const rt = guest(ctx, name, 'vm.create');
    const cpus = cpu === undefined ? undefined : Number(cpu);
    if (cpus !== undefined && (!Number.isInteger(cpus) || cpus < 1 || cpus > 256)) {
      throw badRequest(`cpu: '${cpu}' is not a CPU count`, [{ path: '/args/cpu', message: 'must be a whole number from 1 to 256' }]);
    }
    const def = await ctx.services.vms.update(rt.def.vmid, {
      ...(ram !== undefined ? { memory_mib: parseSize(ram, 'ram') } : {}),
      ...(cpus !== undefined ? { cpus } : {}),
      ...(description !== undefined ? { description } : {}),
      ...(boot !== undefined ? { autostart: boot === '1' } : {}),
    });
    return {
      setprop: {
        name,
        ...(ram !== undefined ? { ram: formatSize(def.memory_mib) } : {}),
        ...(cpu !== undefined ? { cpu: String(def.cpus) } : {}),
        ...(description !== undefined ? { description: def.description } : {}),
        ...(boot !== undefined ? { boot: def.autostart ? '1' : '0' } : {}),
      },
    };
  },
});
