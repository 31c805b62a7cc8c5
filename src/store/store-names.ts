import { randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { badRequest } from '../core/errors.js';

/**
 * A name from a request that becomes one path component in a store: letters, digits and . _ + -,
 * no leading dot (temp files are hidden), no "..", no separators. 400 naming `field` otherwise.
 */
export function checkStoreName(name: unknown, field: string, kind: string, max: number): string {
  const pattern = new RegExp(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,${max - 1}}$`);
  if (typeof name !== 'string' || !pattern.test(name) || name.includes('..')) {
    throw badRequest(`${field}: '${String(name).slice(0, 80)}' is not a valid ${kind}`, [
      { path: `/args/${field}`, message: `must be a ${kind === 'ISO name' ? 'file name' : 'name'} of letters, digits, . _ + - (no leading dot, no "..", at most ${max} characters)` },
    ]);
  }
  return name;
}

/** Where a task assembles `name` until it is complete: hidden (never listed), one per task. */
export function hiddenTemp(dir: string, name: string, taskId: string): string {
  return path.join(dir, `.${name}.part-${taskId.replace(/[^A-Za-z0-9_-]/g, '_')}`);
}

const UPLOAD_TEMP = /^\..*\.part-upload-/;

/** Where a streamed upload of `name` is written until it is complete and checked (see removeUploadTemps). */
export function uploadTemp(dir: string, name: string): string {
  return hiddenTemp(dir, name, `upload-${randomBytes(6).toString('hex')}`);
}

/**
 * Removes the uploads a stopped daemon left half written in `dir` (downloads are tasks, which clean
 * up after themselves); resolves with the names removed.
 */
export async function removeUploadTemps(dir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    if (!UPLOAD_TEMP.test(f)) continue;
    await rm(path.join(dir, f), { force: true });
    removed.push(f);
  }
  return removed;
}
