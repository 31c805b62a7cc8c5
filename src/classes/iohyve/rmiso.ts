import { defineAction } from '../context.js';
import { conflict } from '../../core/errors.js';
import { ALL_GROUPS } from '../../core/permissions.js';
import { taskKey } from '../../queue/task.js';
import { refuseAttached } from './guest.js';

export default defineAction('sysadm/iohyve/rmiso', {
  permission: 'iso.manage',
  // The ISO store is shared by every group: a grant on one group does not reach it.
  scope: { group: ALL_GROUPS },
  write: true,
  async handler({ target }, ctx) {
    const { services } = ctx;
    const busy = services.tasks.activeWithKey(taskKey.iso(target));
    if (busy) throw conflict(`ISO '${target}' is busy with task ${busy.id}`, 'busy');
    refuseAttached(ctx, target);
    await services.isos.remove(target);
    return { rmiso: { target } };
  },
});
