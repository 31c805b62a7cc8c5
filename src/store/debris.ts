import { readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { withFileLock } from './file-lock.js';

// writeFileAtomic's temp files: `.<name>.tmp-<12 hex>`, left behind when a write was killed midway.
const TEMP = /^\..+\.tmp-[0-9a-f]{12}$/;

/**
 * Synchronous: this runs once, before the daemon serves, over every VM directory; 10,000 of them
 * read through the thread pool took most of a second of round trips.
 */
function names(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function removeTemps(dir: string, removed: string[]): Promise<string[]> {
  const left: string[] = [];
  for (const name of names(dir)) {
    if (!TEMP.test(name)) left.push(name);
    else {
      await rm(path.join(dir, name), { force: true });
      removed.push(path.join(dir, name));
    }
  }
  return left;
}

/**
 * Removes what writes killed midway left in the state dir, before the daemon reads it: temp files of
 * atomic writes, and VM directories that never got a vm.json (a create killed before it; one whose
 * damaged vm.json was moved aside, or that holds a QEMU pidfile, stays). Only the daemon holding the state dir
 * writes in vms/ and tasks/; `hyved user ...` writes users.json beside it, hence its lock for the top.
 * Resolves with the paths removed.
 */
export async function cleanDebris(stateDir: string): Promise<string[]> {
  const removed: string[] = [];
  await withFileLock(path.join(stateDir, 'users.json'), () => removeTemps(stateDir, removed));
  await removeTemps(path.join(stateDir, 'tasks'), removed);
  const vms = path.join(stateDir, 'vms');
  for (const vmid of names(vms)) {
    const dir = path.join(vms, vmid);
    const left = await removeTemps(dir, removed).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOTDIR' ? null : Promise.reject(err)));
    // A pidfile may belong to a QEMU still running from this directory: never pull it away.
    if (left === null || left.some((n) => n === 'vm.json' || n === 'qemu.pid' || n.startsWith('vm.json.corrupt-'))) continue;
    await rm(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}
