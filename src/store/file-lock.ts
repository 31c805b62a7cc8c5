import { readFile, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { createPidFile, moveAsideIfSame, pidAlive, removeOwnPidFile } from '../core/pid-file.js';

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
    if (await createPidFile(lock, 0o600)) break;
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
    await removeOwnPidFile(lock);
  }
}

async function holderOf(lock: string): Promise<{ text: string; stale: boolean } | null> {
  const [text, st] = await Promise.all([readFile(lock, 'utf8'), stat(lock)]).catch(() => [null, null] as const);
  if (text === null || st === null) return null;
  const age = Date.now() - st.mtimeMs;
  const pid = Number(text.trim());
  if (text === '') return { text, stale: age > EMPTY_GRACE_MS };
  return { text, stale: !Number.isInteger(pid) || pid <= 0 || !pidAlive(pid) || age > STALE_MS };
}
