import { defineAction } from '../../core/action.js';
import { conflict } from '../../core/errors.js';

export default defineAction<{ target: string }>({
  namespace: 'sysadm',
  name: 'iohyve',
  action: 'rmiso',
  permission: 'iso.manage',
  write: true,
  async handler({ target }, { services }) {
    const busy = services.tasks.activeWithKey(`iso:${target}`);
    if (busy) throw conflict(`ISO '${target}' is busy with task ${busy.id}`);
    const users = services.vms.usersOfMedium(target);
    if (users.length) throw conflict(`ISO '${target}' is attached to VM ${users.map((u) => u.def.name).join(', ')}`);
    await services.isos.remove(target);
    return { rmiso: { target } };
  },
});
