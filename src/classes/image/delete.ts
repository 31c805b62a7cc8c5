import { defineAction } from '../context.js';
import { conflict } from '../../core/errors.js';
import { parseOvf } from '../../provision/ovf/descriptor.js';
import { taskKey } from '../../queue/task.js';
import { imageFor } from './common.js';

export default defineAction('sysadm/image/delete', {
  permission: 'image.manage',
  write: true,
  async handler({ path }, ctx) {
    const { images, tasks } = ctx.services;
    const { ref } = await imageFor(ctx, path, true);
    await images.require(ref);
    const busy = tasks.activeWithKey(taskKey.image(ref.path));
    if (busy) throw conflict(`image '${ref.path}' is in use by task ${busy.id}`, 'busy');
    // An OVF folder's disks go with their descriptor; an unreadable descriptor leaves them for the operator.
    const hrefs = ref.format === 'ovf' ? await images.peekDescriptor(ref).then((t) => parseOvf(t).files.map((f) => f.href), () => []) : [];
    await images.remove(ref, hrefs);
    return { path: ref.path, deleted: true as const };
  },
});
