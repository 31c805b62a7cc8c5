import type { TaskProgress } from '../core/task.js';

export type TaskState = 'pending' | 'running' | 'finished';
export type TaskResult = 'success' | 'failed' | 'canceled' | 'interrupted';

/** What is kept of a task in memory and on disk (tasks/<id>.json). */
export interface TaskRecord {
  id: string;
  owner: string;
  /**
   * The group whose task.view / task.kill grants reach the task: the VM's group, or ALL_GROUPS
   * ("*") for work on the shared ISO store, which only global grants reach. Records written
   * before tasks had groups are read as ALL_GROUPS.
   */
  gid: string;
  /** "namespace/class" of the action that made it, also its dispatcher queue name. */
  queue: string;
  action: string;
  /** sysadm's event_system of its dispatcher events, e.g. "sysadm/iohyve". */
  event_system: string;
  /** A readable command line of what it does, as its owner may see it (passwords masked); others see publicView's. */
  command: string;
  /** Tasks with the same key never run at once (an ISO name, a VM id). */
  key: string | null;
  state: TaskState;
  result?: TaskResult;
  error?: string;
  /** For a task that failed with a client error (a bad image, a quota): its HTTP-style code and reason word. */
  code?: number;
  reason?: string;
  progress: TaskProgress;
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
  image: (path: string) => `image:${path}`,
  dist: (name: string) => `dist:${name}`,
};
