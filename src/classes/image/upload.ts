import { nanoid } from 'nanoid';
import { defineAction } from '../context.js';
import { conflict, notAcceptable } from '../../core/errors.js';
import { taskKey } from '../../queue/task.js';
import { imageFor } from './common.js';

export default defineAction('sysadm/image/upload', {
  permission: 'image.manage',
  write: true,
  async handler({ path, overwrite = false }, ctx) {
    const { images, tasks, config } = ctx.services;
    const { ref } = await imageFor(ctx, path, true);
    if (ref.format !== 'ova') throw notAcceptable(`${ref.path}: upload an .ova (an OVF folder arrives by export)`);
    if (!overwrite && (await images.exists(ref))) throw conflict(`image '${ref.path}' already exists (set overwrite to replace it)`, 'name_taken');
    const busy = tasks.activeWithKey(taskKey.image(ref.path));
    if (busy) throw conflict(`image '${ref.path}' is in use by task ${busy.id}`, 'busy');
    const slot = nanoid();
    images.openUpload(slot, ref, await images.tempPathFor(ref, `upload-${slot}`), overwrite);
    return { slot, path: ref.path, max_bytes: config.images.max_upload_bytes };
  },
});
