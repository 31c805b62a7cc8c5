import type { TaskSpec } from '../queue/queue.js';
import type { CallContext } from './context.js';

export interface Queued { command: string; comment: 'Task Queued'; queueid: string }

/** A task as a handler asks for it: the queue's spec, owned by the caller, its event_system its queue. */
export type QueueRequest = Omit<TaskSpec, 'owner' | 'eventSystem'>;

/** Queues a task owned by the caller and answers as sysadm's queued actions do. */
export function queueFor(ctx: CallContext, r: QueueRequest): Queued {
  const task = ctx.services.tasks.submit({ ...r, owner: ctx.user!.username, eventSystem: r.queue });
  return { command: r.command, comment: 'Task Queued', queueid: task.id };
}
