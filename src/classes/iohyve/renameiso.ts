import { defineAction } from '../context.js';
import { conflict } from '../../core/errors.js';
import { ALL_GROUPS } from '../../core/permissions.js';
import { taskKey } from '../../queue/task.js';
import { refuseAttached } from './guest.js';

export default defineAction('sysadm/iohyve/renameiso', {
  permission: 'iso.manage',
  // The ISO store is shared by every group: a grant on one group does not reach it.
  scope: { group: ALL_GROUPS },
  write: true,
  async handler({ source, target, overwrite = false }, ctx) {
    const { services } = ctx;
    for (const name of [source, target]) {
      const busy = services.tasks.activeWithKey(taskKey.iso(name));
      if (busy) throw conflict(`ISO '${name}' is busy with task ${busy.id}`, 'busy');
    }
    refuseAttached(ctx, source);
    if (overwrite) refuseAttached(ctx, target);
    await services.isos.rename(source, target, overwrite);
    return { renameiso: { source, target } };
  },
});
