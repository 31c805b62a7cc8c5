import { Status } from '../../core/action.js';
import { defineAction } from '../context.js';
import { conflict } from '../../core/errors.js';
import { nameFromUrl, redact } from '../../store/fetch/index.js';
import { fetchableUrl } from '../fetch-url.js';
import { downloadIso } from '../../store/iso-download.js';
import { IsoStore } from '../../store/iso-store.js';
import { taskKey } from '../../queue/task.js';
import { ALL_GROUPS } from '../../core/permissions.js';
import { queueTask, refuseAttached } from './guest.js';

export default defineAction('sysadm/iohyve/fetchiso', {
  permission: 'iso.manage',
  // The ISO store is shared by every group: a grant on one group does not reach it.
  scope: { group: ALL_GROUPS },
  write: true,
  async handler({ url: raw, name: wanted, overwrite = false }, ctx) {
    const { services } = ctx;
    const url = fetchableUrl(raw, services.config.iso.import_dirs);
    const name = IsoStore.check(wanted ?? nameFromUrl(url) ?? '', wanted === undefined ? 'url' : 'name');
    if (!overwrite && (await services.isos.exists(name))) throw conflict(`ISO '${name}' already exists (set overwrite to replace it)`, 'name_taken');
    if (overwrite) refuseAttached(ctx, name);
    const busy = services.tasks.activeWithKey(taskKey.iso(name));
    if (busy) throw conflict(`ISO '${name}' is already being fetched by task ${busy.id}`, 'busy');
    // Passwords in ftp://user:pass@host URLs are masked even for the owner; others see less (publicView).
    const command = `iohyve fetch ${redact(url)}`;
    const queued = queueTask(ctx, ALL_GROUPS, 'fetchiso', command, taskKey.iso(name), (task) => downloadIso(task, services.isos, services.config, url, name, overwrite), name);
    return new Status(202, { fetchiso: { ...queued, name } });
  },
});
