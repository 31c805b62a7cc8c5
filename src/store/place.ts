import { link, rename, unlink } from 'node:fs/promises';
import { conflict } from '../core/errors.js';

/**
 * Moves a finished file into place; without `overwrite` an existing file is never replaced (409
 * naming `what`). link() fails if the target exists: a no-clobber rename without a race.
 */
export async function placeFile(temp: string, target: string, overwrite: boolean, what: string): Promise<void> {
  if (overwrite) return rename(temp, target);
  try {
    await link(temp, target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw conflict(`${what} already exists`, 'name_taken');
    throw err;
  }
  await unlink(temp);
}
