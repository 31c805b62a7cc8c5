import { stat } from 'node:fs/promises';
import { defineAction } from '../context.js';
import { conflict } from '../../core/errors.js';
import { ALL_GROUPS } from '../../core/permissions.js';
import { taskKey } from '../../queue/task.js';
import { iso9660Inspector } from '../../store/iso9660.js';
import { uploadTemp } from '../../store/store-names.js';
import { refuseAttached } from './guest.js';

export default defineAction('sysadm/iohyve/uploadiso', {
  permission: 'iso.manage',
  // The ISO store is shared by every group: a grant on one group does not reach it.
  scope: { group: ALL_GROUPS },
  write: true,
  async handler({ name, overwrite = false }, ctx) {
    const { isos, tasks, config, uploads, log } = ctx.services;
    const file = isos.pathOf(name);
    if (!overwrite && (await isos.exists(name))) throw conflict(`ISO '${name}' already exists (set overwrite to replace it)`, 'name_taken');
    if (overwrite) refuseAttached(ctx, name);
    const busy = tasks.activeWithKey(taskKey.iso(name));
    if (busy) throw conflict(`ISO '${name}' is busy with task ${busy.id}`, 'busy');
    const temp = uploadTemp(isos.dir, name);
    const slot = uploads.open({
      temp,
      what: `ISO '${name}'`,
      inspect: iso9660Inspector,
      async commit() {
        await isos.commit(temp, name, overwrite);
        const { size } = await stat(file);
        log.info(`uploaded ISO ${name} (${size} bytes)`);
        return { name, size };
      },
    });
    return { slot, name, max_bytes: config.images.max_upload_bytes };
  },
});
