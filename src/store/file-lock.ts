import { link, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** The lock could not be taken within the wait; the message names the file and its holder. */
export class FileLockTimeout extends Error {}

// A holder reads, edits and writes one small file (scrypt included): well under a second. A lock
// older than this whose pid still runs belongs to a recycled pid, not to a live holder.
const STALE_MS = 30_000;
// Between O_EXCL creating the lock and the pid landing in it.
const EMPTY_GRACE_MS = 2000;
const WAIT_MS = 15_000;

/**
 * Runs `fn` holding `<file>.lock`, across processes: the daemon and every `hyved user ...` take it
 * around each read-modify-write of `file`, so none of them writes over a change it did not read.
 * Node has no flock(), so the lock is a file created with O_EXCL holding the holder's pid; one left
 * by a killed process (pid gone, or older than any real holder) is moved aside and taken over.
 */
export async function withFileLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${file}.lock`;
  const deadline = Date.now() + WAIT_MS;
  let delay = 5;
  for (;;) {
    try {
      await writeFile(lock, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = await holderOf(lock);
    if (holder?.stale) await moveAsideIfSame(lock, holder.text);
    else if (Date.now() > deadline) {
      throw new FileLockTimeout(`${file} is locked by pid ${holder?.text.trim() || '?'} (${lock}); remove ${lock} if no hyved runs`);
    } else {
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 100);
    }
  }
  try {
    return await fn();
  } finally {
    // Only our own: a holder slower than STALE_MS has been taken over.
    if ((await readFile(lock, 'utf8').catch(() => '')).trim() === String(process.pid)) await rm(lock, { force: true });
  }
}

async function holderOf(lock: string): Promise<{ text: string; stale: boolean } | null> {
  const [text, st] = await Promise.all([readFile(lock, 'utf8'), stat(lock)]).catch(() => [null, null] as const);
  if (text === null || st === null) return null;
  const age = Date.now() - st.mtimeMs;
  const pid = Number(text.trim());
  if (text === '') return { text, stale: age > EMPTY_GRACE_MS };
  return { text, stale: !Number.isInteger(pid) || pid <= 0 || !running(pid) || age > STALE_MS };
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Renamed rather than deleted by name: two waiters that both found the lock stale would otherwise
 * let the slower one delete the lock the faster one had just taken. What was moved is checked, and
 * a live lock put back.
 */
async function moveAsideIfSame(lock: string, staleText: string): Promise<void> {
  const aside = `${lock}.stale-${process.pid}`;
  try {
    await rename(lock, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const moved = await readFile(aside, 'utf8').catch(() => staleText);
  if (moved !== staleText) await link(aside, lock).catch(() => {});
  await rm(aside, { force: true });
}
