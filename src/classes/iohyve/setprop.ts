import { defineAction } from '../context.js';
import { badRequest } from '../../core/errors.js';
import { IOHYVE_GROUP, formatSize, guest, parseSize } from './guest.js';

/** The writable iohyve properties; the schema refuses any other with 400. */
export default defineAction('sysadm/iohyve/setprop', {
  permission: 'vm.create',
  scope: { group: IOHYVE_GROUP },
  write: true,
  async handler({ name, ram, cpu, description, boot }, ctx) {
    const rt = guest(ctx, name);
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
