import { Status } from '../../core/action.js';
import { defineAction } from '../context.js';
import { conflict } from '../../core/errors.js';
import { taskKey } from '../../queue/task.js';
import { IOHYVE_GROUP, creationDescription, gradeFor, parseSize, queueTask, readSettings } from './guest.js';

/** iohyve's defaults: 1 CPU, 512 MiB, disk0 of `size`, the creation time as description. */
export default defineAction('sysadm/iohyve/create', {
  permission: 'vm.create',
  scope: { group: IOHYVE_GROUP },
  write: true,
  async handler({ name, size, pool }, ctx) {
    const { services } = ctx;
    const sizeMib = parseSize(size);
    if (services.vms.byName(IOHYVE_GROUP, name)) throw conflict(`Guest ${name} already exists`, 'name_taken');
    const busy = services.tasks.activeWithKey(taskKey.vm(IOHYVE_GROUP, name));
    if (busy) throw conflict(`Guest ${name} is being created by task ${busy.id}`, 'busy');
    const grade = await gradeFor(services, pool);
    const nic = (await readSettings(services)).nic;
    const command = `iohyve create ${name} ${size}`;
    const queued = queueTask(ctx, IOHYVE_GROUP, 'create', command, taskKey.vm(IOHYVE_GROUP, name), async (task) => {
      task.progress({ description: `creating ${name} with a ${size} disk0` });
      const def = await services.vms.create({
        name,
        gid: IOHYVE_GROUP,
        type: 'BIOS',
        cpus: 1,
        memory_mib: 512,
        displays: [],
        media: [],
        // Without a NIC from setup: NAT where the hypervisor has it (bhyve has not: no network).
        nics: nic ? [{ type: 'BRIDGE', host: nic }] : services.host.nat ? [{ type: 'NAT' }] : [],
        discs: [{ label: 'disk0', size_mib: sizeMib, storage_grade: grade }],
        autostart: false,
        description: creationDescription(new Date()),
        rosetta: false,
      });
      return { name, vmid: def.vmid, size };
    });
    return new Status(202, { create: queued });
  },
});
