import { defineAction } from '../context.js';
import { conflict } from '../../core/errors.js';
import { taskKey } from '../../queue/task.js';
import { imageFor } from './common.js';

export default defineAction('sysadm/image/rename', {
  permission: 'image.manage',
  write: true,
  async handler({ source, target, overwrite = false }, ctx) {
    const { images, tasks } = ctx.services;
    const from = await imageFor(ctx, source, true, 'source');
    const to = await imageFor(ctx, target, true, 'target');
    for (const ref of [from.ref, to.ref]) {
      const busy = tasks.activeWithKey(taskKey.image(ref.path));
      if (busy) throw conflict(`image '${ref.path}' is in use by task ${busy.id}`, 'busy');
    }
    await images.rename(from.ref, to.ref, overwrite);
    return { source: from.ref.path, target: to.ref.path };
  },
});
