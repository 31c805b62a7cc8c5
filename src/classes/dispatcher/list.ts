import { defineAction } from '../context.js';
import { page } from '../paging.js';
import { progressFields, publicView } from '../../queue/dispatcher.js';
import type { TaskRecord } from '../../queue/task.js';

export default defineAction('rpc/dispatcher/list', {
  permission: 'task.view',
  handler({ history = false, offset, limit }, { services, user, can }) {
    const jobs: Record<string, Record<string, ReturnType<typeof describe>>> = {};
    const { items, extra } = page(services.tasks.list(history).filter((t) => can('task.view', t.gid)), { offset, limit });
    for (const t of items) {
      (jobs[t.queue] ??= {})[t.id] = describe(t.owner === user!.username ? t : publicView(t), services.tasks.position(t.id));
    }
    return { jobs, ...extra };
  },
});

function describe(t: TaskRecord, position: number) {
  return {
    commands: [t.command],
    queue_position: String(position),
    state: t.state,
    gid: t.gid,
    ...(t.result ? { result: t.result } : {}),
    ...(t.error ? { error: t.error } : {}),
    ...(t.code !== undefined ? { code: t.code, reason: t.reason } : {}),
    owner: t.owner,
    action: t.action,
    ...progressFields(t),
    description: t.progress.description,
    ...(t.progress.filename ? { filename: t.progress.filename } : {}),
    log: t.log,
    time_queued: t.time_queued,
    ...(t.time_started ? { time_started: t.time_started } : {}),
    ...(t.time_finished ? { time_finished: t.time_finished } : {}),
    ...(t.return !== undefined ? { return: t.return } : {}),
  };
}
