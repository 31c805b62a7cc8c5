import { defineAction } from '../context.js';
import { conflict, notAcceptable } from '../../core/errors.js';
import { ovaCheckThread } from '../../provision/ovf/ova-check-thread.js';
import { taskKey } from '../../queue/task.js';
import { imageFor, limitsOf } from './common.js';

export default defineAction('sysadm/image/upload', {
  permission: 'image.manage',
  write: true,
  async handler({ path, overwrite = false }, ctx) {
    const { images, tasks, config, uploads, log } = ctx.services;
    const { ref } = await imageFor(ctx, path, true);
    if (ref.format !== 'ova') throw notAcceptable(`${ref.path}: upload an .ova (an OVF folder arrives by export)`);
    if (!overwrite && (await images.exists(ref))) throw conflict(`image '${ref.path}' already exists (set overwrite to replace it)`, 'name_taken');
    const busy = tasks.activeWithKey(taskKey.image(ref.path));
    if (busy) throw conflict(`image '${ref.path}' is in use by task ${busy.id}`, 'busy');
    const limits = limitsOf(config);
    const temp = await images.uploadTempFor(ref);
    const slot = uploads.open({
      temp,
      what: `image '${ref.path}'`,
      // The archive is checked (members, digests) as it arrives, so the upload is not followed by a
      // second read of the whole file; a bad member stops it early. On a thread of its own: see there.
      inspect: () => ovaCheckThread(limits),
      async commit(inspected) {
        const image = await images.commitOva(temp, ref, overwrite, limits, undefined, inspected);
        log.info(`uploaded image ${ref.path} (${image.bytes} bytes)`);
        return { path: ref.path, name: ref.file, size: image.bytes };
      },
    });
    return { slot, path: ref.path, max_bytes: config.images.max_upload_bytes };
  },
});
