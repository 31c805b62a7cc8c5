export type TaskState = 'pending' | 'running' | 'finished';
export type TaskResult = 'success' | 'failed' | 'canceled' | 'interrupted';

import type { TaskContext, TaskProgress } from '../core/task.js';

/**
 * A task's progress as the queue keeps and publishes it: core's TaskProgress and, for a transfer,
 * the bytes moved so far and the size announced (null while unknown). Optional because records
 * written before they existed have neither.
 */
export interface Progress extends TaskProgress {
  bytes?: number | null;
  total?: number | null;
}

/** What the queue hands a task body: core's contract, whose progress also takes the byte counts. */
export interface QueueTaskContext extends TaskContext {
  progress(p: Partial<Progress>): void;
}

/** What is kept of a task in memory and on disk (tasks/<id>.json). */
export interface TaskRecord {
  id: string;
  owner: string;
  /** "namespace/class" of the action that made it, also its dispatcher queue name. */
  queue: string;
  action: string;
  /** sysadm's event_system of its dispatcher events, e.g. "sysadm/iohyve". */
  event_system: string;
  /** A readable command line of what it does (secrets redacted). */
  command: string;
  /** Tasks with the same key never run at once (an ISO name, a VM id). */
  key: string | null;
  state: TaskState;
  result?: TaskResult;
  error?: string;
  progress: Progress;
  log: string[];
  time_queued: string;
  time_started?: string;
  time_finished?: string;
  return?: unknown;
  /** Files that exist only while the task runs: removed if it is canceled, fails or is interrupted. */
  cleanup: string[];
}

export const LOG_LINES = 50;

/** The key of a task's resource: tasks with one key run one at a time, and handlers look them up by it. */
export const taskKey = {
  iso: (name: string) => `iso:${name}`,
  vm: (gid: string, name: string) => `vm:${gid}/${name}`,
};
