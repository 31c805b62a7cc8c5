import { defineAction } from '../context.js';
import { conflict } from '../../core/errors.js';
import { taskKey } from '../../queue/task.js';

export default defineAction('sysadm/iohyve/renameiso', {
  permission: 'iso.manage',
  write: true,
  async handler({ source, target, overwrite = false }, { services }) {
    for (const name of [source, target]) {
      const busy = services.tasks.activeWithKey(taskKey.iso(name));
      if (busy) throw conflict(`ISO '${name}' is busy with task ${busy.id}`, 'busy');
    }
    const users = services.vms.usersOfMedium(source);
    if (users.length) throw conflict(`ISO '${source}' is attached to VM ${users.map((u) => u.def.name).join(', ')}`);
    await services.isos.rename(source, target, overwrite);
    return { renameiso: { source, target } };
  },
});
