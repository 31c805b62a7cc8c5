import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { RpcError } from '../core/errors.js';

const CAUSES: Record<string, string> = {
  EROFS: 'is read-only',
  EACCES: 'denies this user access',
  EPERM: 'denies this user access',
  ENOSPC: 'is full',
  EDQUOT: 'is over its disk quota',
};

/**
 * A failure to write state as one line naming the path and the cause, so that a read-only or full
 * state dir reads as such to the client and in the log, not as "internal error" or a bare errno.
 * Other errors pass unchanged: callers branch on their `code` (ENOENT, EEXIST).
 */
export function writeFailure(err: unknown): unknown {
  const e = err as NodeJS.ErrnoException;
  const cause = e?.code ? CAUSES[e.code] : undefined;
  if (!cause || !e.path) return err;
  return new RpcError(500, `cannot ${e.syscall ?? 'write'} ${e.path}: the file system there ${cause} (${e.code})`);
}

/** The same, for the daemon's start: the state dir named first. */
export function startFailure(err: unknown, stateDir: string): string | null {
  const e = err as NodeJS.ErrnoException;
  const cause = e?.code ? CAUSES[e.code] : undefined;
  if (!cause) return null;
  const what = e.code === 'EROFS' ? 'is read-only' : e.code === 'ENOSPC' || e.code === 'EDQUOT' ? 'is full' : 'is not writable by this user';
  return `state dir ${stateDir} ${what} (${e.code})${e.path ? `: cannot ${e.syscall ?? 'write'} ${e.path}` : ''}`;
}

/** mkdir -p whose failure names the real cause: Node's recursive mkdir reports ENOENT where a level fails with EROFS or EACCES. */
export async function makeDirs(dir: string, mode: number): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode });
  } catch (err) {
    const parent = path.dirname(dir);
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === dir) throw err;
    await makeDirs(parent, mode);
    await mkdir(dir, { mode });
  }
}
