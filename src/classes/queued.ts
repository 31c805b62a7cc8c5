import type { TaskContext } from '../core/task.js';
import type { TaskResult } from '../queue/task.js';
import type { CallContext } from './context.js';

export interface Queued { command: string; comment: 'Task Queued'; queueid: string }

export interface QueueRequest {
  /** "namespace/class": the dispatcher queue and event_system of the task. */
  queue: string;
  /** The group whose task grants reach it (ALL_GROUPS for the shared stores). */
  gid: string;
  action: string;
  /** What the task does, as its owner reads it: never a secret. */
  command: string;
  /** Tasks with one key run one at a time. */
  key: string | null;
  filename?: string;
  run(t: TaskContext): Promise<unknown>;
  onSettled?(result: TaskResult): Promise<void>;
}

/** Queues a task owned by the caller and answers as sysadm's queued actions do. */
export function queueFor(ctx: CallContext, r: QueueRequest): Queued {
  const task = ctx.services.tasks.submit({
    owner: ctx.user!.username,
    gid: r.gid,
    queue: r.queue,
    action: r.action,
    eventSystem: r.queue,
    command: r.command,
    key: r.key,
    ...(r.filename ? { filename: r.filename } : {}),
    run: r.run,
    ...(r.onSettled ? { onSettled: r.onSettled } : {}),
  });
  return { command: r.command, comment: 'Task Queued', queueid: task.id };
}
