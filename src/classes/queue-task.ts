import type { TaskContext } from '../core/task.js';
import type { CallContext } from './context.js';

export interface Queued { command: string; comment: 'Task Queued'; queueid: string }

/**
 * Queues a task of class `queue` ("sysadm/iohyve", "sysadm/image") on `key` (one at a time per
 * resource) and answers as iohyve did. `gid` is the group whose task grants reach it.
 */
export function queueTask(ctx: CallContext, queue: string, gid: string, action: string, command: string, key: string | null, run: (t: TaskContext) => Promise<unknown>, filename?: string): Queued {
  const task = ctx.services.tasks.submit({
    owner: ctx.user!.username,
    gid,
    queue,
    action,
    eventSystem: queue,
    command,
    key,
    ...(filename ? { filename } : {}),
    run,
  });
  return { command, comment: 'Task Queued', queueid: task.id };
}
