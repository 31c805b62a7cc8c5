import type { EventEmitter } from 'node:events';

/**
 * Whether a process exists. Signal 0 checks without signalling; EPERM means the process is
 * there but not ours to signal (a hypervisor started by another user, or under a dropped
 * privilege), which is alive all the same.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Resolves true when `handle` emits 'exit' (at once when `exited`), false after `timeoutMs`.
 * The listener goes when the wait ends either way: a stop loop that times out again and again
 * would otherwise pile listeners on a VM that never exits.
 */
export function waitForExit(handle: EventEmitter, exited: boolean, timeoutMs: number): Promise<boolean> {
  if (exited) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      handle.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    handle.once('exit', onExit);
  });
}
