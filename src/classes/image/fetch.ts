import { Status } from '../../core/action.js';
import { defineAction } from '../context.js';
import { badRequest, conflict } from '../../core/errors.js';
import { nameFromUrl, redact } from '../../store/fetch/index.js';
import { downloadTo } from '../../store/iso-download.js';
import { SHARED_FOLDER } from '../../provision/image-store.js';
import { taskKey } from '../../queue/task.js';
import { queueFor } from '../queued.js';
import { fetchableUrl } from '../fetch-url.js';
import { IMAGE_QUEUE, imageFor, limitsOf } from './common.js';
import { fetchOvf } from './fetch-ovf.js';

export default defineAction('sysadm/image/fetch', {
  permission: 'image.manage',
  write: true,
  async handler({ url: raw, path, overwrite = false }, ctx) {
    const { images, tasks, config } = ctx.services;
    const url = fetchableUrl(raw, config.iso.import_dirs);
    const { ref, gid } = await imageFor(ctx, path ?? `${SHARED_FOLDER}/${nameFromUrl(url) ?? ''}`, true, path === undefined ? 'url' : 'path');
    if (!overwrite && (await images.exists(ref))) throw conflict(`image '${ref.path}' already exists (set overwrite to replace it)`, 'name_taken');
    // A manifest names its descriptor: a fetched .ovf keeps the name it has on the server.
    if (ref.format === 'ovf' && nameFromUrl(url) !== ref.file) throw badRequest(`path: an .ovf keeps its name (its manifest names it): use '${ref.folder}/${nameFromUrl(url)}'`, [{ path: '/args/path', message: "must end in the URL's file name" }]);
    const busy = tasks.activeWithKey(taskKey.image(ref.path));
    if (busy) throw conflict(`image '${ref.path}' is in use by task ${busy.id}`, 'busy');
    const command = `image fetch ${redact(url)}`;
    const queued = queueFor(ctx, { queue: IMAGE_QUEUE, gid, action: 'fetch', command, key: taskKey.image(ref.path), filename: ref.file, run: async (task) => {
      if (ref.format === 'ovf') return fetchOvf(task, ctx.services, url, ref, overwrite);
      const temp = await images.tempPathFor(ref, task.id);
      await task.addCleanup(temp);
      const bytes = await downloadTo(task, config, url, temp, ref.file);
      task.progress({ description: `checking ${ref.file}`, percent: null });
      await images.commitOva(temp, ref, overwrite, limitsOf(config), task.signal);
      await task.dropCleanup(temp);
      task.log(`fetched ${bytes} bytes into ${ref.path}`);
      return { path: ref.path, bytes };
    } });
    return new Status(202, { fetch: { ...queued, path: ref.path } });
  },
});
