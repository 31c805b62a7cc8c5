import { execFile } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

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

/**
 * A process's command line, to tell a recycled pid from the process that wrote it down: exact from
 * /proc on Linux; elsewhere split on blanks from ps(1). [] when the process is gone.
 */
export async function argvOf(pid: number): Promise<string[]> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
  } catch {
    const { stdout } = await run('ps', ['-ww', '-o', 'command=', '-p', String(pid)]).catch(() => ({ stdout: '' }));
    return stdout.trim().split(/\s+/).filter(Boolean);
  }
}
