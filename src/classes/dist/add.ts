import { Status } from '../../core/action.js';
import { conflict } from '../../core/errors.js';
import { ALL_GROUPS } from '../../core/permissions.js';
import { addDistribution } from '../../provision/dist-add.js';
import { taskKey } from '../../queue/task.js';
import { DistStore } from '../../store/dist-store.js';
import { redact } from '../../store/fetch/index.js';
import { defineAction } from '../context.js';
import { fetchableUrl } from '../fetch-url.js';
import { queueFor } from '../queued.js';

export default defineAction('sysadm/dist/add', {
  permission: 'image.manage',
  // The distribution store is shared by every group, as the ISO store is.
  scope: { group: ALL_GROUPS },
  write: true,
  async handler({ name, url: raw, overwrite = false, action: _action, ...descriptor }, ctx) {
    const { services } = ctx;
    const url = fetchableUrl(raw, services.config.iso.import_dirs);
    DistStore.check(name, 'name');
    if (!overwrite && (await services.dists.exists(name))) throw conflict(`distribution '${name}' already exists (set overwrite to replace it)`, 'name_taken');
    const busy = services.tasks.activeWithKey(taskKey.dist(name));
    if (busy) throw conflict(`distribution '${name}' is already being added by task ${busy.id}`, 'busy');
    const queued = queueFor(ctx, {
      queue: 'sysadm/dist',
      gid: ALL_GROUPS,
      action: 'add',
      command: `dist add ${name} ${redact(url)}`,
      key: taskKey.dist(name),
      filename: name,
      run: (task) => addDistribution(task, services.dists, services.config, url, name, descriptor, overwrite),
    });
    return new Status(202, { add: { ...queued, name } });
  },
});
