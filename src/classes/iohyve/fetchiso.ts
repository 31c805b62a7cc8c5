import { Status } from '../../core/action.js';
import { defineAction } from '../context.js';
import path from 'node:path';
import { badRequest, conflict, forbidden } from '../../core/errors.js';
import { FetchError, checkUrl, nameFromUrl, redact } from '../../store/fetch/index.js';
import { downloadIso } from '../../store/iso-download.js';
import { IsoStore } from '../../store/iso-store.js';
import { taskKey } from '../../queue/task.js';
import { ALL_GROUPS } from '../../core/permissions.js';
import { queueTask, refuseAttached } from './guest.js';

function insideImportDirs(url: URL, dirs: string[]): boolean {
  const file = path.resolve(decodeURIComponent(url.pathname));
  return dirs.some((dir) => file.startsWith(dir + path.sep));
}

export default defineAction('sysadm/iohyve/fetchiso', {
  permission: 'iso.manage',
  // The ISO store is shared by every group: a grant on one group does not reach it.
  scope: { group: ALL_GROUPS },
  write: true,
  async handler({ url: raw, name: wanted, overwrite = false }, ctx) {
    const { services } = ctx;
    let url: URL;
    try {
      url = new URL(raw);
      checkUrl(url);
    } catch (err) {
      const message = err instanceof FetchError ? err.message : `not a URL: ${(err as Error).message}`;
      throw badRequest(`url: ${message}`, [{ path: '/args/url', message }]);
    }
    if (url.protocol === 'file:' && !insideImportDirs(url, services.config.iso.import_dirs)) {
      // The fetcher checks again after resolving symlinks; this answers the obvious case at once.
      throw forbidden(`url: ${url.pathname} is outside the import directories (config iso.import_dirs)`);
    }
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
