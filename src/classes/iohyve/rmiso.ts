import { defineAction } from '../context.js';
import { conflict } from '../../core/errors.js';
import { taskKey } from '../../queue/task.js';

export default defineAction('sysadm/iohyve/rmiso', {
  permission: 'iso.manage',
  write: true,
  async handler({ target }, { services }) {
    const busy = services.tasks.activeWithKey(taskKey.iso(target));
    if (busy) throw conflict(`ISO '${target}' is busy with task ${busy.id}`, 'busy');
    const users = services.vms.usersOfMedium(target);
    if (users.length) throw conflict(`ISO '${target}' is attached to VM ${users.map((u) => u.def.name).join(', ')}`);
    await services.isos.remove(target);
    return { rmiso: { target } };
  },
});
