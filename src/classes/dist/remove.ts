import { conflict } from '../../core/errors.js';
import { ALL_GROUPS } from '../../core/permissions.js';
import { taskKey } from '../../queue/task.js';
import { defineAction } from '../context.js';

export default defineAction('sysadm/dist/remove', {
  permission: 'image.manage',
  scope: { group: ALL_GROUPS },
  write: true,
  async handler({ name }, ctx) {
    const busy = ctx.services.tasks.activeWithKey(taskKey.dist(name));
    if (busy) throw conflict(`distribution '${name}' is in use by task ${busy.id}`, 'busy');
    await ctx.services.dists.remove(name);
    return { name, removed: true as const };
  },
});
