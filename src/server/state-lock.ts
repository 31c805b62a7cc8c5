import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StartupError } from '../core/errors.js';
import { createPidFile, moveAsideIfSame, pidAlive, removeOwnPidFile } from '../core/pid-file.js';
import { argvOf } from '../hypervisor/process.js';

const LOCK_FILE = 'hyved.pid';

// A lock file still empty this long after its creation was left by a daemon that died in between.
const EMPTY_GRACE_MS = 2000;

/**
 * One daemon per state dir: two would both drive the same VMs, and one removed the QEMU pidfile
 * of the other's VM. Node has no flock(), so the lock is `hyved.pid` created with O_EXCL and holding the
 * daemon's pid. A daemon killed with SIGKILL leaves it behind; it is stale once that pid is gone
 * or runs something other than hyved (pids are recycled), and is then taken over.
 */
export class StateDirLock {
  private constructor(private readonly file: string) {}

  static async acquire(dir: string): Promise<StateDirLock> {
    const file = path.join(dir, LOCK_FILE);
    // Bounded: each turn either wins, refuses, or removed a stale lock that another starter may have replaced.
    for (let turn = 0; turn < 5; turn++) {
      if (await createPidFile(file, 0o644)) return new StateDirLock(file);
      const text = await readLock(file);
      if (text === null) continue;
      const pid = Number(text.trim());
      if (Number.isInteger(pid) && pid > 0 && (await isHyved(pid))) {
        throw new StartupError(`state dir ${dir} is in use by hyved pid ${pid} (${file})`);
      }
      await moveAsideIfSame(file, text);
    }
    throw new StartupError(`cannot lock state dir ${dir}: ${file} keeps changing`);
  }

  /** Removes the lock if it is still ours. */
  release(): Promise<void> {
    return removeOwnPidFile(this.file);
  }
}

/** The lock's text; null when it vanished. A freshly created lock is empty until its pid is written. */
async function readLock(file: string): Promise<string | null> {
  for (;;) {
    const [text, st] = await Promise.all([readFile(file, 'utf8'), stat(file)]).catch(() => [null, null] as const);
    if (text === null || st === null) return null;
    if (text !== '' || Date.now() - st.mtimeMs > EMPTY_GRACE_MS) return text;
    await sleep(20);
  }
}

async function isHyved(pid: number): Promise<boolean> {
  if (pid === process.pid || !pidAlive(pid)) return false;
  // `node .../hyved.js serve`, or the installed `hyved` script run through its #! line.
  return (await argvOf(pid)).slice(0, 2).some((arg) => /^hyved(\.js)?$/.test(path.basename(arg)));
}
