import { link, readFile, rename, rm, writeFile } from 'node:fs/promises';

/**
 * Lock files holding their holder's pid, created with O_EXCL (Node has no flock()): the state dir's
 * `hyved.pid` and `users.json.lock` share these steps and differ only in when a holder is stale.
 */

/** Whether a process `pid` exists; EPERM means it does, owned by someone else. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Creates `file` holding this process's pid; false when it exists already. */
export async function createPidFile(file: string, mode: number): Promise<boolean> {
  try {
    await writeFile(file, `${process.pid}\n`, { flag: 'wx', mode });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/** Removes `file` if it still holds this process's pid (a slow holder may have been taken over). */
export async function removeOwnPidFile(file: string): Promise<void> {
  if ((await readFile(file, 'utf8').catch(() => '')).trim() === String(process.pid)) await rm(file, { force: true });
}

/**
 * Takes a stale lock away by renaming, not deleting it by name: two processes that both found it
 * stale would otherwise let the slower one delete the lock the faster one had just made. What was
 * moved is checked, and a live lock put back.
 */
export async function moveAsideIfSame(file: string, staleText: string): Promise<void> {
  const aside = `${file}.stale-${process.pid}`;
  try {
    await rename(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if ((await readFile(aside, 'utf8').catch(() => staleText)) !== staleText) await link(aside, file).catch(() => {});
  await rm(aside, { force: true });
}
